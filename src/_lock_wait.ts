/**
 * Waiting for a lock: tries are steps (`_lock_acquire.ts`), run by the
 * synchronous or the asynchronous runner; the pause between two tries is
 * not a step, so the steps themselves never wait for anything but an
 * operation (as the write's turn in `_async_phases.ts`). A waiter waits on
 * what its try named: the lock file, or the ticket of the waiter just ahead
 * of it in line (`_lock_queue.ts`). An asynchronous waiter watches it
 * (`runtime/_watch.ts`) and wakes when it changes, so a released lock is
 * handed over without waiting for the next poll; a synchronous one sleeps
 * (`Atomics.wait`) in slices, and looks at it (one `lstat`) after each:
 * short slices while the wait is young, longer ones as it goes on.
 */
import { basename, dirname } from "node:path";
import type { AtomicWriteError } from "./atomic_write_error.ts";
import { isTempNameFor } from "./_temp_name.ts";
import { inDirectory } from "./_replacement.ts";
import { look } from "./_lock_look.ts";
import {
  keepingAlive,
  MAX_TIMER_MS,
  runAsync,
  runSync,
  untilAborted,
} from "./_run.ts";
import { shared } from "./_shared_state.ts";
import { type Lines, lineUp } from "./_line.ts";
import type {
  AsyncFsOps,
  EntryInfo,
  FileWatch,
  FsOps,
} from "./runtime/types.ts";
import type { Wake } from "./runtime/_watch.ts";
import {
  type Held,
  lockError,
  lockPathFor,
  type LockPlan,
  timerDelay,
} from "./_lock.ts";
import {
  abandon,
  approach,
  timedOut,
  tryOnce,
  type Waiter,
} from "./_lock_acquire.ts";
import { clearTimer, monotonic, setTimer, type Timer } from "./_clock.ts";

/**
 * Waits for the lock of `plan.target` and takes it, blocking the thread
 * between tries. The caller records `held.path` and `held.holder` as in
 * flight (removed at exit) and starts the heartbeat.
 */
export function acquireSync(plan: LockPlan, ops: FsOps): Held {
  // As the asynchronous wait: a signal aborted already gives its reason,
  // before the target is looked at (a missing directory, a lock held here).
  plan.signal?.throwIfAborted();
  const waiter = runSync(approach(plan), ops);
  try {
    // This thread holds the lock (a lock or an update not yet settled): a
    // wait here would block the one who must release it, until the lease
    // ran out and the lock was taken from under it. Known by its path as
    // given, or, once a try has looked at the lock file, by its identity
    // (the same file named through a link, a bind mount, `/proc/self/root`),
    // or by its record where names are numbered apart (sshfs).
    if (isHeldHere(plan, ops, waiter)) {
      throw selfDeadlock(plan, waiter.path);
    }
    for (;;) {
      const got = runSync(tryOnce(waiter), ops);
      if (typeof got !== "number") return got;
      if (isOwnLock(plan, ops, waiter)) throw selfDeadlock(plan, waiter.path);
      waiter.quiet = !napOn(
        ops,
        waiter.awaits,
        got,
        waiter.place,
        monotonic() - waiter.started,
      );
    }
  } finally {
    runSync(abandon(waiter), ops);
  }
}

/**
 * Whether this thread holds the lock file `waiter.path` already, before any
 * try: by its path, or, since a lock names its files through its directory
 * held open (one descriptor each, so one path each), by the identity of the
 * file there, looked at only if this thread holds a lock at all, or else by
 * its record (see {@linkcode namesOwnHolder}).
 */
function isHeldHere(plan: LockPlan, ops: FsOps, waiter: Waiter): boolean {
  const path = waiter.path;
  if (plan.inFlight?.has(path)) return true;
  if (!plan.held?.size) return false;
  try {
    const entry = ops.lstat(path);
    return entry !== null &&
      (holdsHere(plan, ops, entry.id) || namesOwnHolder(waiter, ops, entry));
  } catch {
    return false; // the tries say what is wrong
  }
}

/**
 * Whether the record of the lock file at `waiter.path` (seen as `entry`, if
 * just looked at) names, as its holder's own name, one of this thread's
 * other than the waiter's: a lock this thread holds (its lock's name still
 * in flight beside it: not being released, not found lost), or one an
 * asynchronous acquisition of this thread has just linked. Where each name
 * of a file has a number of its own (sshfs), the lock's name never has the
 * identity of the holder's own name, so the identity cannot say so; the
 * record, read now, names the holder of the file at the lock's name now,
 * in the lock's own directory. Read only if this thread has such a name for
 * this lock at all.
 */
function namesOwnHolder(
  waiter: Waiter,
  ops: FsOps,
  entry?: EntryInfo,
): boolean {
  const { plan, path } = waiter;
  const inFlight = plan.inFlight;
  if (inFlight === undefined) return false;
  const lock = basename(path);
  const ours = [...inFlight].filter((name) =>
    name !== waiter.state.holder && isTempNameFor(basename(name), lock) &&
    (!inFlight.releasedAtExit(name) ||
      inFlight.has(inDirectory(dirname(name), lock)))
  );
  if (ours.length === 0) return false;
  const file = runSync(look(plan, path, entry), ops)?.record?.file;
  const named = ours.filter((name) => basename(name) === file);
  // A copy of the directory made while this thread held its lock (`cp -a`,
  // a snapshot) has a record naming the same holder: only a name in the
  // lock's own directory is this thread's. Each lock names its files
  // through a descriptor of its own, so the directories are told by their
  // identity, which is a directory's own on sshfs too.
  if (named.length === 0) return false;
  const here = ops.stat(dirname(path))?.id;
  return here !== undefined &&
    named.some((name) => ops.stat(dirname(name))?.id === here);
}

/**
 * Whether the lock file known by its identity `id` is one this thread
 * holds: one of `plan.held` that a name of this thread's still leads to
 * (the holder's own, or the lock's as it took it). A lock taken over while
 * the thread did not run a heartbeat (a synchronous stretch) keeps its
 * identity in `plan.held` until one finds it lost, and by then the file
 * system may have given that identity (its inode) to another lock. `id` was
 * seen at the lock's name before these looks: a name of this thread's that
 * still leads to it kept that file, and its number, alive in between.
 */
function holdsHere(plan: LockPlan, ops: FsOps, id: string): boolean {
  if (!plan.held?.has(id)) return false;
  for (const path of plan.inFlight ?? []) {
    try {
      if (ops.lstat(path)?.id === id) return true;
    } catch { /* not this one */ }
  }
  return false;
}

/**
 * Whether the lock file the waiter last looked at is this thread's: one it
 * holds (`plan.held`, by identity), or one its asynchronous acquisition has
 * just linked, whose end that acquisition cannot reach while this thread
 * waits: the lock file is then the holder's own file of that acquisition,
 * in flight under its second name. Not a lock whose release has begun
 * (which is no longer held, but whose holder's name stays in flight until
 * the release ends): its removal is under way without this thread (the
 * runtime's thread pool makes it), or, near the end of its lease, it
 * goes, or is taken over, once the lease is over.
 */
function isOwnLock(plan: LockPlan, ops: FsOps, waiter: Waiter): boolean {
  const id = waiter.sighted;
  if (id === null) return false;
  if (holdsHere(plan, ops, id)) return true;
  const inFlight = plan.inFlight;
  if (inFlight === undefined) return false;
  // In any directory: a lock names its files through its own descriptor of
  // theirs (`_lock_directory.ts`), so the same directory has many names.
  // The identity decides.
  const lock = basename(waiter.path);
  for (const path of inFlight) {
    if (!isTempNameFor(basename(path), lock)) continue;
    if (inFlight.releasedAtExit(path)) continue; // held, or being released
    try {
      if (ops.lstat(path)?.id === id) return true;
    } catch { /* not ours to judge: the wait goes on */ }
  }
  try {
    return namesOwnHolder(waiter, ops);
  } catch {
    return false; // not ours to judge: the wait goes on
  }
}

/** The failure of a synchronous wait for a lock that this very thread holds. */
function selfDeadlock(plan: LockPlan, path: string): AtomicWriteError {
  return lockError(
    plan,
    "EDEADLK",
    "lock",
    path,
    "this thread holds the lock already, and a synchronous wait would keep it from ever releasing it (locks are not re-entrant)",
  );
}

/**
 * How often a synchronous waiter looks at what it waits on: the next in
 * line (first, or behind the holder's ticket) often, as a release is due;
 * those further back less. One look is one `lstat` (a few µs); measured with
 * 6 Node processes on 2 cores, tries every 1 ms instead (a failed link, an
 * error thrown and caught, by every waiter) made the holder's own work
 * 1.6-2.3x slower than alone.
 */
const NEXT_LOOK_MS = 0.5;
const LATER_LOOK_MS = 2;
/**
 * A look costs a waking thread some 25-250 µs of CPU (Node; Deno twice), so a
 * waiter that looked every 0.5 ms for as long as it waited took 5-15 % of
 * a core. Slices grow with the wait instead, up to this long: the release
 * is seen at most a twentieth of the wait so far late (the hand-overs of a
 * contended lock, whose waits are short, stay as fast), and a long wait
 * costs at most about a hundred looks a second.
 */
const LONGEST_LOOK_MS = 10;
const LOOK_SHARE_OF_WAIT = 20;

/**
 * Sleeps up to `ms` ms, or until the file at `path` is gone or replaced;
 * resolves to whether it changed. `place`: how many waiters are ahead;
 * `waited`: how long the wait has lasted so far, in ms.
 */
function napOn(
  ops: FsOps,
  path: string,
  ms: number,
  place: number,
  waited: number,
): boolean {
  const slice = Math.max(
    place <= 1 ? NEXT_LOOK_MS : LATER_LOOK_MS,
    Math.min(LONGEST_LOOK_MS, waited / LOOK_SHARE_OF_WAIT),
  );
  const end = monotonic() + ms;
  try {
    const seen = ops.lstat(path);
    if (seen === null) return true;
    for (let left = ms; left > 0; left = end - monotonic()) {
      ops.sleep(Math.min(slice, left));
      // A new identity only wakes the waiter to try: it judges nothing.
      const now = ops.lstat(path);
      if (now === null || now.id !== seen.id) return true;
    }
  } catch {
    // What cannot be looked at is slept on; the next try says what is wrong.
    ops.sleep(end - monotonic());
  }
  return false;
}

/**
 * The asynchronous acquisitions of each file in this thread, by the path
 * given, in call order. In-process fairness: of several asynchronous updates
 * of one file in one process, only the first in line waits on the file
 * system; the others wait their turn here, and wake nobody else. One that
 * gives up (its timeout, its signal) leaves the line at once, keeping
 * nothing behind. (Two paths that lead to one file through a symbolic link
 * queue apart; the lock file still excludes them.) Every copy of the
 * library in the thread lines up in these (`_shared_state.ts`).
 */
const inThisThread = shared("lockLines", (): Lines => new Map());

/** How many asynchronous acquisitions of `target` this thread has in line (the holder's included). */
export function inLine(target: string): number {
  return inThisThread.get(target)?.length ?? 0;
}

/**
 * Lines an acquisition of `target` up behind those of this thread; returns
 * when its turn comes and the function that ends it (leaving the line, or
 * handing the turn on). While it waits its turn, a timer keeps the event
 * loop alive, as a wait on another process's lock does with its polls: the
 * wait ends (its turn, its timeout, its signal: Node's
 * `AbortSignal.timeout` keeps nothing alive) rather than the process
 * exiting with the caller's work silently undone.
 */
function queueFor(target: string): { ahead: Promise<void>; leave: () => void } {
  const place = lineUp(inThisThread, target);
  const stop = place.waits ? keepingAlive() : () => {};
  if (place.waits) place.ahead.then(stop);
  return {
    ahead: place.ahead,
    leave: () => {
      stop();
      place.leave();
    },
  };
}

/**
 * Waits for `ahead` until `deadline` (by `monotonic()`) at most, then
 * rejects with `ETIMEDOUT`; or with the reason of `plan.signal` as soon as
 * it aborts. Either way its timer goes: left armed, it would keep the
 * process alive until the deadline.
 */
async function awaitTurn(
  plan: LockPlan,
  deadline: number,
  ahead: Promise<void>,
): Promise<void> {
  const left = deadline - monotonic();
  if (left === Infinity) return await untilAborted(ahead, plan.signal);
  let timer: Timer | undefined;
  const late = new Promise<never>((_, reject) => {
    // A timeout longer than a timer can take (30 days) is waited in legs.
    const wait = () => {
      const left = deadline - monotonic();
      if (left > MAX_TIMER_MS) {
        timer = setTimer(wait, MAX_TIMER_MS);
        return;
      }
      timer = setTimer(
        () =>
          reject(
            timedOut(
              plan,
              lockPathFor(plan.target),
              "this process (an earlier lock or update of the same file)",
            ),
          ),
        timerDelay(left),
      );
    };
    wait();
  });
  try {
    await untilAborted(Promise.race([ahead, late]), plan.signal);
  } finally {
    clearTimer(timer);
  }
}

/** Waits for the lock of `plan.target` and takes it, asynchronously; as {@linkcode acquireSync}. */
export async function acquireAsync(
  plan: LockPlan,
  ops: AsyncFsOps,
): Promise<Held> {
  const started = monotonic();
  const turn = queueFor(plan.target);
  try {
    await awaitTurn(plan, started + plan.timeout, turn.ahead);
    const held = await waitForLock(
      plan,
      ops,
      await runAsync(approach(plan, started), ops),
    );
    held.leaveLine = turn.leave;
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
      watch = plan.adapter.watchFile(waiter.awaits, got);
      wake = await untilAborted(watch.done, plan.signal);
      watch = null;
      if (wake === "unwatched") waiter.watching = false;
      waiter.quiet = wake === "timeout";
    }
  } finally {
    watch?.close();
    await runAsync(abandon(waiter), ops);
  }
}
