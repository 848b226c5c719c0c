/** @x/atomic/compat/steno: steno's Writer, on this library. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { Buffer } from "node:buffer";
import { Writer } from "../src/compat/steno.ts";
import { AtomicWriteError } from "../mod.ts";
import { read, tempsIn, withTempDir } from "./_fixtures.ts";

test("steno Writer.write() settles 1000 racing writes, and the file holds the last", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "tmp.txt");
    const writer = new Writer(file);
    const writes = [];
    for (let i = 1; i <= 1000; i++) writes.push(writer.write(String(i)));
    await Promise.all(writes);
    assert.equal(parseInt(read(file)), 1000);
    assert.deepEqual(tempsIn(dir), []);
  });
});

/** Iterables of one chunk each that record which of them were pulled. */
function recordingChunks(): {
  chunks: (i: number) => Iterable<string>;
  pulled: number[];
} {
  const pulled: number[] = [];
  return {
    pulled,
    chunks: (i) => ({
      *[Symbol.iterator]() {
        pulled.push(i);
        yield `v${i}`;
      },
    }),
  };
}

test("steno Writer.write() folds a burst of iterables as it folds text: only the first and the latest are written", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "db.json");
    const writer = new Writer(file);
    const { chunks, pulled } = recordingChunks();
    const writes = [];
    for (let i = 0; i < 100; i++) writes.push(writer.write(chunks(i)));
    await Promise.all(writes);
    assert.deepEqual(pulled, [0, 99]);
    assert.equal(read(file), "v99");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("steno Writer.write() never pulls an iterable that newer data of another type replaced", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "db.json");
    const writer = new Writer(file);
    const { chunks, pulled } = recordingChunks();
    await Promise.all([
      writer.write("first"),
      writer.write(chunks(1)),
      writer.write(new TextEncoder().encode("bytes")),
      writer.write(chunks(3)),
      writer.write("last"),
    ]);
    assert.deepEqual(pulled, []);
    assert.equal(read(file), "last");
  });
});

test("steno new Writer() takes a URL and a Buffer path", async () => {
  await withTempDir(async (dir) => {
    await new Writer(pathToFileURL(path.join(dir, "a"))).write("url");
    await new Writer(Buffer.from(path.join(dir, "b"))).write("buffer");
    assert.equal(read(path.join(dir, "a")), "url");
    assert.equal(read(path.join(dir, "b")), "buffer");
  });
});

test("steno new Writer() throws a TypeError for a path whose bytes are not UTF-8", () => {
  assert.throws(
    () => new Writer(new Uint8Array([0x2f, 0xff])),
    /bytes are not UTF-8/,
  );
});

test("steno Writer.write() writes bytes, typed arrays and iterables", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const writer = new Writer(file);
    await writer.write(new Uint16Array([0x6968]));
    assert.equal(read(file), "hi");
    await writer.write(["a", Buffer.from("b")]);
    assert.equal(read(file), "ab");
    async function* chunks() {
      yield "c";
      yield new Uint8Array([0x64]);
    }
    await writer.write(chunks());
    assert.equal(read(file), "cd");
  });
});

test("steno Writer.write() rejects when the directory is missing, and the next write still works", async () => {
  await withTempDir(async (dir) => {
    const sub = path.join(dir, "sub");
    const writer = new Writer(path.join(sub, "f"));
    const error = await writer.write("x").then(() => null, (e) => e);
    assert.ok(error instanceof AtomicWriteError);
    assert.equal(error.code, "ENOENT");
    fs.mkdirSync(sub);
    await writer.write("y");
    assert.equal(read(path.join(sub, "f")), "y");
  });
});

test("steno Writer.write() leaves the data of the latest call, whatever the type of the earlier one", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const writer = new Writer(file);
    await Promise.all([writer.write(["FIRST"]), writer.write("SECOND")]);
    assert.equal(read(file), "SECOND");
    async function* third() {
      yield "THIRD";
    }
    await Promise.all([
      writer.write(third()),
      writer.write(new TextEncoder().encode("FOURTH")),
    ]);
    assert.equal(read(file), "FOURTH");
  });
});

test("steno Writer.write() leaves the data of the latest call when two Writers of one file overlap, whatever the type of the earlier one", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const older = new Writer(file);
    const newer = new Writer(file);
    async function* slow() {
      await new Promise((resolve) => setTimeout(resolve, 20));
      yield "OLDER";
    }
    await Promise.all([older.write(slow()), newer.write("NEWER")]);
    assert.equal(read(file), "NEWER");
    await Promise.all([
      older.write("A"),
      older.write(slow()),
      newer.write("B"),
    ]);
    assert.equal(read(file), "B");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("steno Writer.write() resolves a relative path against the current directory of each call", async () => {
  await withTempDir(async (dir) => {
    const [a, b] = [path.join(dir, "a"), path.join(dir, "b")];
    fs.mkdirSync(a);
    fs.mkdirSync(b);
    const cwd = process.cwd();
    try {
      process.chdir(a);
      const writer = new Writer("db.json");
      await writer.write("in a");
      process.chdir(b);
      await writer.write("in b");
    } finally {
      process.chdir(cwd);
    }
    assert.equal(read(path.join(a, "db.json")), "in a");
    assert.equal(read(path.join(b, "db.json")), "in b");
  });
});

for (
  const [what, data] of [
    ["an ArrayBuffer", new ArrayBuffer(3)],
    ["null", null],
    ["a number", 42],
  ] as const
) {
  test(`steno Writer.write() rejects ${what} with a TypeError coded ERR_INVALID_ARG_TYPE, as steno's fs.writeFile does, and keeps the file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "db.json");
      fs.writeFileSync(file, "old");
      const error = await new Writer(file).write(data as never).then(
        () => null,
        (e) => e,
      );
      assert.ok(error instanceof TypeError, String(error));
      assert.equal((error as { code?: string }).code, "ERR_INVALID_ARG_TYPE");
      assert.equal(read(file), "old");
      assert.deepEqual(tempsIn(dir), []);
    });
  });
}
