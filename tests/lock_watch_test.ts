/**
 * How an asynchronous lock waiter learns that the lock was released: a
 * watch on the lock file itself (`src/runtime/_watch.ts`), which wakes on
 * the holder's release and on nothing else in the directory; the adapter's
 * `watchFile` of each runtime.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { detectAdapter } from "../src/runtime/detect.ts";
import { withTempDir } from "./_fixtures.ts";

/** This runtime's watch (Deno has its own; see `src/runtime/_watch_deno.ts`). */
const { watchFile } = detectAdapter();
/** Long enough never to end a test's wait by itself on a busy machine. */
const NEVER_MS = 60_000;

/** A lock file as a holder has it: its own name, linked to the lock's. */
function heldLock(dir: string): { lock: string; own: string } {
  const own = path.join(dir, "own");
  const lock = path.join(dir, "lock");
  fs.writeFileSync(own, "record");
  fs.linkSync(own, lock);
  return { lock, own };
}

test('watchFile() resolves "changed" when the lock\'s name is removed and the file keeps its other name', async () => {
  await withTempDir(async (dir) => {
    const { lock } = heldLock(dir);
    const watch = watchFile(lock, NEVER_MS);
    try {
      await new Promise((r) => setTimeout(r, 20));
      fs.unlinkSync(lock);
      assert.equal(await watch.done, "changed");
    } finally {
      watch.close();
    }
  });
});

test("watchFile() is not woken by other files changing in the directory", async () => {
  await withTempDir(async (dir) => {
    const { lock } = heldLock(dir);
    const watch = watchFile(lock, 300);
    try {
      const temp = path.join(dir, ".f.tmp");
      for (let i = 0; i < 5; i++) {
        fs.writeFileSync(temp, `content ${i}`);
        fs.renameSync(temp, path.join(dir, "f"));
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(await watch.done, "timeout");
    } finally {
      watch.close();
    }
  });
});

test('watchFile() resolves "missing" for a lock file already gone', async () => {
  await withTempDir(async (dir) => {
    const watch = watchFile(path.join(dir, "lock"), NEVER_MS);
    try {
      assert.equal(await watch.done, "missing");
    } finally {
      watch.close();
    }
  });
});

test('watchFile() resolves "timeout" after the time given when nothing happens', async () => {
  await withTempDir(async (dir) => {
    const { lock } = heldLock(dir);
    const started = performance.now();
    const watch = watchFile(lock, 30);
    assert.equal(await watch.done, "timeout");
    assert.ok(performance.now() - started >= 25);
  });
});

test('watchFile() resolves "unwatched" after the time given where no watch can be made', async () => {
  await withTempDir(async (dir) => {
    // A watch needs a file or directory; "not a directory" is not "missing".
    const file = path.join(dir, "file");
    fs.writeFileSync(file, "");
    const watch = watchFile(path.join(file, "lock"), 30);
    assert.equal(await watch.done, "unwatched");
  });
});

test("watchFile() close() ends the wait", async () => {
  await withTempDir(async (dir) => {
    const { lock } = heldLock(dir);
    const watch = watchFile(lock, NEVER_MS);
    watch.close();
    assert.equal(await watch.done, "timeout");
  });
});
