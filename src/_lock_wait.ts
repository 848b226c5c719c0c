/**
 * Waiting for a lock: tries are steps (`_lock_acquire.ts`), run by the
 * synchronous or the asynchronous runner; the pause between two tries is
 * not a step, so the steps themselves never wait for anything but an
 * operation (as the write's turn in `_async_phases.ts`). A synchronous
 * waiter sleeps (`Atomics.wait`: no CPU burnt); an asynchronous one also
 * wakes when the lock's directory changes, so a released lock is handed
 * over without waiting for the next poll.
 */
import { basename, dirname } from "node:path";
import { runAsync, runSync, untilAborted } from "./_run.ts";
import type { AsyncFsOps, DirWatch, FsOps } from "./runtime/types.ts";
import type { Held, LockPlan } from "./_lock.ts";
import { abandon, approach, tryOnce } from "./_lock_acquire.ts";

/**
 * Waits for the lock of `plan.target` and takes it, blocking the thread
 * between tries. The caller records `held.path` and `held.holder` as in
 * flight (removed at exit) and starts the heartbeat.
 */
export function acquireSync(plan: LockPlan, ops: FsOps): Held {
  const waiter = runSync(approach(plan), ops);
  try {
    for (;;) {
      const got = runSync(tryOnce(waiter), ops);
      if (typeof got !== "number") return got;
      ops.sleep(got);
    }
  } finally {
    runSync(abandon(waiter), ops);
  }
}

/** Waits for the lock of `plan.target` and takes it, asynchronously; as {@linkcode acquireSync}. */
export async function acquireAsync(
  plan: LockPlan,
  ops: AsyncFsOps,
): Promise<Held> {
  const waiter = await runAsync(approach(plan), ops);
  let watch: DirWatch | null = null;
  try {
    for (;;) {
      const got = await runAsync(tryOnce(waiter), ops);
      if (typeof got !== "number") return got;
      if (!plan.watch) {
        await ops.sleep(got);
        continue;
      }
      const lock = waiter.path;
      watch ??= plan.adapter.watchDir(dirname(lock), basename(lock));
      await untilAborted(watch.next(got), plan.signal);
    }
  } finally {
    watch?.close();
    await runAsync(abandon(waiter), ops);
  }
}
