/**
 * Test frameworks' fake clocks and timers (sinon, jest, vitest, Node's
 * `mock.timers`), installed once the library is loaded, do not reach it:
 * it keeps the clocks and timers it found when loaded (`src/_clock.ts`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import {
  DEAD_PID,
  root,
  runtimeName,
  scriptCommand,
  withTempDir,
} from "./_fixtures.ts";
import { spawnSync } from "node:child_process";
import { startLockChild, writeFakeLock } from "./_lock_fixtures.ts";

const child = path.join(root, "tests", "_fake_clock_child.ts");

/** What `_fake_clock_child.ts` printed, or `hung` if it had not ended after 20 s. */
function childSays(...args: string[]): string {
  const [exe, ...rest] = scriptCommand(child, args);
  const run = spawnSync(exe, rest, { encoding: "utf8", timeout: 20_000 });
  if (run.status === null) return "hung";
  return run.stdout.trim() || run.stderr;
}

test("lockFile() under fake timers and a pinned Date takes over a dead holder's lock", async () => {
  await withTempDir((dir) => {
    const target = path.join(dir, "state.json");
    writeFakeLock(target, { pid: DEAD_PID });
    assert.equal(childSays("take", target), "ok");
  });
});

test("lockFile() under a Date pinned to 1970 stamps its lock with the real time", async () => {
  await withTempDir((dir) => {
    const target = path.join(dir, "state.json");
    assert.equal(childSays("stamp", target), "ok 0");
  });
});

test("lockFileSync() under a frozen performance.now() still times out", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "state.json");
    const holder = startLockChild(runtimeName(), ["hold", target]);
    try {
      await holder.waitFor((line) => line === "held");
      assert.equal(childSays("sync-timeout", target), "ETIMEDOUT in time");
    } finally {
      holder.kill("SIGKILL");
      await holder.ended;
    }
  });
});
