/**
 * Two copies of the library in one process (two dependencies each bringing
 * their own, or the npm build beside the JSR source) share the thread's
 * state: one set of held locks, one call order per file, one exit hook.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import * as first from "../mod.ts";
import { read, root, scriptCommand, withTempDir } from "./_fixtures.ts";
import { loadSecondCopy } from "./_second_copy.ts";

const second = await loadSecondCopy();

/** Whether `error` is an error with `code` (either copy's `AtomicWriteError`). */
function hasCode(code: string): (error: unknown) => boolean {
  return (error) => (error as { code?: unknown }).code === code;
}

test("lockFileSync() in a second copy throws EDEADLK at once while the first copy holds the lock, which keeps it", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lock = await first.lockFile(target, { lease: 1000 });
    try {
      const started = performance.now();
      assert.throws(
        () => second.lockFileSync(target, { lease: 1000, timeout: 5000 }),
        hasCode("EDEADLK"),
      );
      assert.ok(performance.now() - started < 500, "it waited");
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(lock.signal.aborted, false);
    } finally {
      await lock.release();
    }
  });
});

test("updateFileAtomicSync() in a second copy with timeout 0 throws EDEADLK, not ETIMEDOUT, while the first copy holds the lock", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lock = await first.lockFile(target);
    try {
      assert.throws(
        () => second.updateFileAtomicSync(target, () => "x", { timeout: 0 }),
        hasCode("EDEADLK"),
      );
    } finally {
      await lock.release();
    }
  });
});

test("writeFileAtomic() calls through two copies rename in call order", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const big = "x".repeat(8 << 20);
    for (let round = 0; round < 20; round++) {
      await Promise.all([
        first.writeFileAtomic(target, `first ${round} ${big}`),
        second.writeFileAtomic(target, `second ${round}`),
      ]);
      assert.equal(read(target), `second ${round}`);
    }
  });
});

test("writeFileAtomic() through a second copy keeps the mode 0o600 that an earlier call through the first copy gave", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const big = "y".repeat(8 << 20);
    for (let round = 0; round < 10; round++) {
      fs.writeFileSync(target, "public");
      fs.chmodSync(target, 0o644);
      await Promise.all([
        first.writeFileAtomic(target, "secret", { mode: 0o600 }),
        second.writeFileAtomic(target, `later ${round} ${big}`),
      ]);
      assert.ok(read(target).startsWith(`later ${round} y`), "order lost");
      assert.equal(fs.statSync(target).mode & 0o777, 0o600);
    }
  });
});

test("two copies install one exit hook, which removes both copies' temporary files and locks", async () => {
  await withTempDir((dir) => {
    const [exe, ...args] = scriptCommand(
      path.join(root, "tests", "_two_copies_child.ts"),
      [dir],
    );
    const child = spawnSync(exe, args, { encoding: "utf8", timeout: 60_000 });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { exitHooks: 1 });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});
