/** writeFileAtomic(): what only the asynchronous one-shot API does. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { PassThrough } from "node:stream";
import { spawn } from "node:child_process";
import { type AtomicData, AtomicWriteError, writeFileAtomic } from "../mod.ts";
import {
  faultAdapter,
  read,
  slowFirstFsync,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { abortingMidStream } from "./_streams.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

test("writeFileAtomic() settles 50 concurrent writes to one path in call order, last data wins", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "same.txt");
    const order: number[] = [];
    await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) =>
          writeFileAtomic(target, `write ${i} `.repeat(1 + (i * 7919) % 300))
            .then(() => order.push(i)),
      ),
    );
    assert.deepEqual(order, Array.from({ length: 50 }, (_, i) => i));
    assert.equal(read(target), "write 49 ".repeat(1 + (49 * 7919) % 300));
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("writeFileAtomic() renames in call order even when an earlier write is slower", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    // The first write's fsync is slow: the second is ready to rename first.
    const adapter = slowFirstFsync();
    await using(adapter, async () => {
      await Promise.all([
        writeFileAtomic(target, "first"),
        writeFileAtomic(target, "second"),
      ]);
    });
    assert.equal(read(target), "second");
  });
});

test("writeFileAtomic() lets a later write to the same path proceed when an earlier one fails", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const adapter = faultAdapter([{
      op: "write",
      code: "EIO",
      where: (args) =>
        new TextDecoder().decode(args[1] as Uint8Array) === "first",
    }]);
    await using(adapter, async () => {
      const results = await Promise.allSettled([
        writeFileAtomic(target, "first"),
        writeFileAtomic(target, "second"),
      ]);
      assert.equal(results[0].status, "rejected");
      assert.equal(results[1].status, "fulfilled");
    });
    assert.equal(read(target), "second");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("writeFileAtomic() with overwrite: false lets exactly one of 20 concurrent writers win", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "lock");
    const results = await Promise.allSettled(
      Array.from(
        { length: 20 },
        (_, i) => writeFileAtomic(target, `writer ${i}`, { overwrite: false }),
      ),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    assert.equal(won.length, 1);
    for (const r of lost) {
      const reason = (r as PromiseRejectedResult).reason;
      assert.ok(reason instanceof AtomicWriteError);
      assert.equal(reason.code, "EEXIST");
    }
    const winner = results.findIndex((r) => r.status === "fulfilled");
    assert.equal(read(target), `writer ${winner}`);
    assert.deepEqual(fs.readdirSync(dir), ["lock"]);
  });
});

test("writeFileAtomic() writes a ReadableStream", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(bytes("from "));
        controller.enqueue(bytes("a stream"));
        controller.close();
      },
    });
    await writeFileAtomic(target, stream);
    assert.equal(read(target), "from a stream");
  });
});

test("writeFileAtomic() writes a sync iterable of strings and bytes", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    await writeFileAtomic(target, ["a", bytes("b"), "c"]);
    assert.equal(read(target), "abc");
  });
});

test("writeFileAtomic() writes an async iterable", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    async function* lines() {
      for (let i = 0; i < 1000; i++) yield `line ${i}\n`;
    }
    await writeFileAtomic(target, lines());
    const text = read(target);
    assert.equal(text.split("\n").length, 1001);
    assert.ok(text.endsWith("line 999\n"));
  });
});

test("writeFileAtomic() rejects with a TypeError for a bad chunk mid-iterable and keeps the target", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    function* chunks() {
      yield "ok";
      yield 42 as unknown as string;
    }
    await assert.rejects(writeFileAtomic(target, chunks()), TypeError);
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("writeFileAtomic() checks an array's chunks before it touches any file or directory", async () => {
  await withTempDir(async (dir) => {
    const bad = ["ok", 42 as unknown as string];
    const missing = path.join(dir, "missing");
    // A TypeError, not the ENOENT of the missing directory...
    await assert.rejects(
      writeFileAtomic(path.join(missing, "f"), bad),
      TypeError,
    );
    // ...and no directory made for it.
    await assert.rejects(
      writeFileAtomic(path.join(missing, "f"), bad, { mkdir: true }),
      TypeError,
    );
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("writeFileAtomic() discards and rethrows when the source iterable throws", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const boom = new Error("source failed");
    async function* failing() {
      yield "partial";
      throw boom;
    }
    await assert.rejects(writeFileAtomic(target, failing()), (e) => e === boom);
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("writeFileAtomic() rejects with the signal's reason when aborted mid-stream", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const controller = new AbortController();
    const reason = new Error("user cancelled");
    await assert.rejects(
      writeFileAtomic(target, abortingMidStream(controller, reason), {
        signal: controller.signal,
      }),
      (e) => e === reason,
    );
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("writeFileAtomic() rejects with a Node stream's error when it fails before its first read, and the process goes on", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    // Its 'error' (ENOENT) comes while the temporary file is being made.
    const source = fs.createReadStream(path.join(dir, "missing"));
    await assert.rejects(
      writeFileAtomic(target, source),
      (e: NodeJS.ErrnoException) => e.code === "ENOENT",
    );
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

for (const signal of [undefined, new AbortController().signal]) {
  test(
    `writeFileAtomic() rejects with the write's error when it fails amid a child process's output${
      signal ? " (with a signal)" : ""
    }, and the process goes on`,
    async () => {
      await withTempDir(async (dir) => {
        const target = path.join(dir, "f");
        fs.writeFileSync(target, "old");
        // The child's stream is left mid-way: destroyed with an AbortError,
        // it made Deno reject a promise no one could catch, in most rounds.
        for (let round = 0; round < 8; round++) {
          const child = spawn("head", ["-c", "400000", "/dev/zero"], {
            stdio: ["ignore", "pipe", "inherit"],
          });
          const closed = new Promise((resolve) => child.once("close", resolve));
          // The disk fills near the end of the child's 400,000 bytes.
          let written = 0;
          const full = faultAdapter([{
            op: "write",
            code: "ENOSPC",
            where: (args) =>
              (written += (args[1] as Uint8Array).length) > 350_000,
          }]);
          await using(full, () =>
            assert.rejects(
              writeFileAtomic(target, child.stdout, { signal }),
              (e) => e instanceof AtomicWriteError && e.code === "ENOSPC",
            ));
          await closed;
          assert.equal(read(target), "old");
          assert.deepEqual(tempsIn(dir), []);
        }
      });
    },
  );
}

test("writeFileAtomic() rejects with the write's own error when the Node stream it leaves mid-way throws from destroy()", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    // Not ended, and more than the first write takes (64 KiB): left mid-way.
    const source = new PassThrough();
    for (let i = 0; i < 8; i++) source.write(new Uint8Array(16_384));
    source.destroy = () => {
      throw new Error("destroy() threw");
    };
    const full = faultAdapter([{ op: "write", code: "ENOSPC" }]);
    await using(full, () =>
      assert.rejects(
        writeFileAtomic(target, source),
        (e) => e instanceof AtomicWriteError && e.code === "ENOSPC",
      ));
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("writeFileAtomic() rejects with the signal's reason when the aborted source's return() throws", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const controller = new AbortController();
    const reason = new Error("user cancelled");
    let given = 0;
    const source: AsyncIterableIterator<string> = {
      [Symbol.asyncIterator]() {
        return this;
      },
      next() {
        if (++given === 2) controller.abort(reason);
        return Promise.resolve({ done: given > 5, value: "x" });
      },
      return() {
        throw new Error("return() threw");
      },
    };
    await assert.rejects(
      writeFileAtomic(target, source, { signal: controller.signal }),
      (e) => e === reason,
    );
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

/** Sources that give one chunk, then nothing ever again. */
const stallingSources: Record<string, () => AtomicData> = {
  "a ReadableStream": () =>
    new ReadableStream({
      start(controller) {
        controller.enqueue(new Uint8Array(4));
      },
    }),
  "an async generator": async function* () {
    yield "x";
    await new Promise(() => {});
  },
  "a Node stream": () => {
    const stream = new PassThrough();
    stream.write("x");
    return stream;
  },
};

for (const [what, source] of Object.entries(stallingSources)) {
  test(`writeFileAtomic() rejects with the signal's reason when aborted while ${what} it reads from stalls, and the next write of the file goes ahead`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      fs.writeFileSync(target, "old");
      const controller = new AbortController();
      const reason = new Error("gave up");
      const stalled = writeFileAtomic(target, source(), {
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(reason), 20);
      await assert.rejects(stalled, (e) => e === reason);
      assert.equal(read(target), "old");
      assert.deepEqual(tempsIn(dir), []);
      await writeFileAtomic(target, "next");
      assert.equal(read(target), "next");
    });
  });
}

test("writeFileAtomic() cancels a stalled ReadableStream with the signal's reason when aborted", async () => {
  await withTempDir(async (dir) => {
    const controller = new AbortController();
    const reason = new Error("gave up");
    let cancelledWith: unknown;
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array(4));
      },
      cancel(why) {
        cancelledWith = why;
      },
    });
    const stalled = writeFileAtomic(path.join(dir, "f"), stream, {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(reason), 20);
    await assert.rejects(stalled, (e) => e === reason);
    assert.equal(cancelledWith, reason);
  });
});

test("writeFileAtomic() rejects with the signal's reason, and leaves no unhandled rejection, when its source throws that reason as it aborts", async () => {
  await withTempDir(async (dir) => {
    const unhandled: unknown[] = [];
    const note = (why: unknown) => void unhandled.push(why);
    process.on("unhandledRejection", note);
    try {
      const controller = new AbortController();
      const reason = new Error("cancelled");
      const source = async function* () {
        yield "x".repeat(1000);
        // As a fetch body read with the same signal does.
        controller.abort(reason);
        controller.signal.throwIfAborted();
      };
      await assert.rejects(
        writeFileAtomic(path.join(dir, "f"), source(), {
          signal: controller.signal,
        }),
        (e) => e === reason,
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.deepEqual(unhandled, []);
      assert.deepEqual(tempsIn(dir), []);
    } finally {
      process.off("unhandledRejection", note);
    }
  });
});

test("writeFileAtomic() rejects with the signal's reason when aborted while waiting for its turn", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const controller = new AbortController();
    const reason = new Error("stop waiting");
    // The first write's fsync is slow; the second is aborted meanwhile.
    const adapter = slowFirstFsync();
    await using(adapter, async () => {
      const first = writeFileAtomic(target, "first");
      const second = writeFileAtomic(target, "second", {
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(reason), 10);
      await assert.rejects(second, (e) => e === reason);
      await first;
    });
    assert.equal(read(target), "first");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("writeFileAtomic() rejects with a TypeError for data that is neither bytes, text nor iterable", async () => {
  await assert.rejects(
    writeFileAtomic("f", { length: 3 } as unknown as string),
    TypeError,
  );
  await assert.rejects(
    writeFileAtomic("f", 42 as unknown as string),
    TypeError,
  );
});

test("writeFileAtomic() shares directory fsyncs between concurrent writes to one directory", async () => {
  await withTempDir(async (dir) => {
    const adapter = faultAdapter([]);
    const realSyncDir = adapter.async.syncDir;
    adapter.async.syncDir = async (path) => {
      // A slow device: every rename lands while the first flush runs.
      await new Promise((r) => setTimeout(r, 30));
      return await realSyncDir(path);
    };
    await using(adapter, async () => {
      await Promise.all(
        Array.from(
          { length: 20 },
          (_, i) => writeFileAtomic(path.join(dir, `f${i}`), `data ${i}`),
        ),
      );
    });
    const renames = adapter.calls.filter((c) => c.startsWith("rename")).length;
    const dirSyncs = adapter.calls.filter((c) =>
      c.startsWith("syncDir")
    ).length;
    assert.equal(renames, 20);
    assert.ok(dirSyncs >= 1 && dirSyncs <= 3, `${dirSyncs} directory fsyncs`);
    // Every write still had a directory fsync after its rename.
    const lastRename = adapter.calls.findLastIndex((c) =>
      c.startsWith("rename")
    );
    const lastSync = adapter.calls.findLastIndex((c) =>
      c.startsWith("syncDir")
    );
    assert.ok(lastSync > lastRename);
  });
});
