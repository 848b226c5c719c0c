/**
 * Reading a whole file (`src/runtime/_read_whole.ts`): Node's read in two
 * round trips gives what a plain read gives, at every size around its first
 * read, and leaves no file open; the adapter's two forms agree.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { readWholeInTwo } from "../src/runtime/_read_whole.ts";
import { detectAdapter } from "../src/runtime/detect.ts";
import { errorCode } from "../src/_error_code.ts";
import { withTempDir } from "./_fixtures.ts";
import { skipTest } from "./_skip.ts";

const KIB = 1024;

function readInTwo(file: string): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    readWholeInTwo(file, (error, data) => error ? reject(error) : resolve(data))
  );
}

/** Bytes that differ from one position to the next, so a misplaced piece shows. */
function pattern(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff;
  return bytes;
}

/** How many files this process has open, where `/proc` says. */
function openFiles(): number | null {
  try {
    return fs.readdirSync("/proc/self/fd").length;
  } catch {
    return null;
  }
}

for (
  const size of [0, 1, KIB, 64 * KIB - 1, 64 * KIB, 64 * KIB + 1, 1024 * KIB]
) {
  test(`the read in two round trips gives a file of ${size} bytes whole`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const bytes = pattern(size);
      fs.writeFileSync(file, bytes);
      assert.deepEqual(new Uint8Array(await readInTwo(file)), bytes);
    });
  });
}

test("the read in two round trips gives a buffer of its own, not a slice of a shared pool", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    fs.writeFileSync(file, "small");
    const data = await readInTwo(file);
    assert.equal(data.byteOffset, 0);
    assert.equal(data.buffer.byteLength, data.length);
  });
});

test("the read in two round trips reads a file whose size the file system does not say", async (t) => {
  // /proc files have size 0 and content.
  if (!fs.existsSync("/proc/self/status")) {
    return skipTest(t, "no /proc/self/status on this system");
  }
  const text = (await readInTwo("/proc/self/status")).toString("latin1");
  assert.match(text, /^Name:/);
  assert.match(text, /\nPid:\s+\d+\n/);
});

test("the read in two round trips reads a /proc file longer than one read gives, to its end", async (t) => {
  // /proc files say size 0 and give at most a page or so per read.
  const file = "/proc/kallsyms";
  let plain: Buffer;
  try {
    plain = fs.readFileSync(file);
  } catch {
    return skipTest(t, `cannot read ${file} here`);
  }
  if (plain.length <= 64 * KIB) return skipTest(t, `${file} is short here`);
  assert.equal(fs.statSync(file).size, 0);
  const data = await readInTwo(file);
  assert.equal(data.length, plain.length);
  assert.ok(data.equals(plain));
});

test("the read in two round trips closes the file it opened", async (t) => {
  if (openFiles() === null) {
    return skipTest(t, "no /proc/self/fd on this system");
  }
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    fs.writeFileSync(file, "x");
    await readInTwo(file); // warm: a runtime may open files of its own once
    const before = openFiles()!;
    for (let i = 0; i < 20; i++) await readInTwo(file);
    // The file is closed behind the answer: wait for it, 2 s at most.
    const end = Date.now() + 2000;
    while (openFiles()! > before && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // At most as many: the runtime may close one of its own meanwhile.
    const after = openFiles()!;
    assert.ok(after <= before, `${after} files open, ${before} before`);
  });
});

test("the read in two round trips fails with the system's code, for a missing file and for a directory", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(readInTwo(path.join(dir, "missing")), (error) => {
      assert.equal(errorCode(error), "ENOENT");
      return true;
    });
    await assert.rejects(readInTwo(dir), (error) => {
      assert.equal(errorCode(error), "EISDIR");
      return true;
    });
  });
});

test("the adapter's asynchronous read gives what its synchronous read gives, on both sides of the first read's size", async () => {
  const { sync, async } = detectAdapter();
  await withTempDir(async (dir) => {
    for (const size of [0, 3 * KIB, 64 * KIB, 200 * KIB]) {
      const file = path.join(dir, `f${size}`);
      fs.writeFileSync(file, pattern(size));
      const [read, readSync] = [
        await async.readFile(file),
        sync.readFile(file),
      ];
      assert.deepEqual(
        new Uint8Array(read!.bytes),
        new Uint8Array(pattern(size)),
      );
      assert.deepEqual(read, readSync);
    }
    assert.equal(await async.readFile(path.join(dir, "missing")), null);
  });
});
