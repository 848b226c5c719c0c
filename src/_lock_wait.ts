/**
 * Waiting for a lock: tries are steps (`_lock_acquire.ts`), run by the
 * synchronous or the asynchronous runner; the pause between two tries is
 * not a step, so the steps themselves never wait for anything but an
 * operation (as the write's turn in `_async_phases.ts`). A synchronous
 * waiter sleeps (`Atomics.wait`: no CPU burnt); an asynchronous one watches
 * the lock file (`runtime/_watch.ts`) and wakes when its holder releases it,
 * so a released lock is handed over without waiting for the next poll.
 */
import { runAsync, runSync, untilAborted } from "./_run.ts";
import type { AsyncFsOps, FileWatch, FsOps } from "./runtime/types.ts";
import type { Wake } from "./runtime/_watch.ts";
import { type Held, lockPathFor, type LockPlan } from "./_lock.ts";
import {
  abandon,
  approach,
  timedOut,
  tryOnce,
  type Waiter,
} from "./_lock_acquire.ts";

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

/**
 * The asynchronous acquisitions of each file in this thread, by the path
 * given: each one resolves once its lock is released (or its wait failed).
 * In-process fairness: of several asynchronous updates of one file in one
 * process, only the first waits on the file system; the others wait their
 * turn here, in call order, and wake nobody else. (Two paths that lead to
 * one file through a symbolic link queue apart; the lock file still
 * excludes them.)
 */
const inThisThread = new Map<string, Promise<void>>();

/**
 * Queues an acquisition of `target` behind those of this thread; returns
 * when its turn comes and the function that ends it.
 */
function queueFor(target: string): { ahead: Promise<void>; leave: () => void } {
  const ahead = inThisThread.get(target) ?? Promise.resolve();
  let leave = () => {};
  const left = new Promise<void>((resolve) => leave = resolve);
  const mine = ahead.then(() => left);
  inThisThread.set(target, mine);
  mine.then(() => {
    if (inThisThread.get(target) === mine) inThisThread.delete(target);
  });
  return { ahead, leave };
}

/** Waits for `ahead` until `deadline` (by `performance.now()`) at most, then rejects with `ETIMEDOUT`. */
async function awaitTurn(
  plan: LockPlan,
  deadline: number,
  ahead: Promise<void>,
): Promise<void> {
  const left = deadline - performance.now();
  if (left === Infinity) return await ahead;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          timedOut(
            plan,
            lockPathFor(plan.target),
            "this process (an earlier lock or update of the same file)",
          ),
        ),
      Math.max(0, left),
    );
  });
  try {
    await Promise.race([ahead, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits for the lock of `plan.target` and takes it, asynchronously; as {@linkcode acquireSync}. */
export async function acquireAsync(
  plan: LockPlan,
  ops: AsyncFsOps,
): Promise<Held> {
  const started = performance.now();
  const turn = queueFor(plan.target);
  try {
    await untilAborted(
      awaitTurn(plan, started + plan.timeout, turn.ahead),
      plan.signal,
    );
    const held = await waitForLock(
      plan,
      ops,
      await runAsync(approach(plan, started), ops),
    );
    held.onReleased = turn.leave;
    return held;
  } catch (error) {
    turn.leave();
    throw error;
  }
}

/** Takes the lock `waiter` approached, trying again whenever the lock file changes. */
async function waitForLock(
  plan: LockPlan,
  ops: AsyncFsOps,
  waiter: Waiter,
): Promise<Held> {
  let watch: FileWatch | null = null;
  try {
    let wake: Wake | null = null;
    for (;;) {
      const got = await runAsync(tryOnce(waiter), ops);
      if (typeof got !== "number") return got;
      if (!waiter.watching) {
        await ops.sleep(got);
        continue;
      }
      // A lock released between the try and the watch is tried again at
      // once, but not twice in a row (a name that cannot be watched, such
      // as a dangling symbolic link, would make that a busy loop).
      if (wake === "missing") {
        await ops.sleep(got);
        wake = null;
        continue;
      }
      watch = plan.adapter.watchFile(waiter.path, got);
      wake = await untilAborted(watch.done, plan.signal);
      watch = null;
      if (wake === "unwatched") waiter.watching = false;
    }
  } finally {
    watch?.close();
    await runAsync(abandon(waiter), ops);
  }
}
