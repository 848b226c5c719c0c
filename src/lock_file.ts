/** A cross-process lock on a file, for critical sections of several steps. */
import { type Context, currentContext } from "./_context.ts";
import {
  DEFAULT_LEASE_MS,
  HEARTBEATS_PER_LEASE,
  type Held,
  type LockPlan,
  MIN_LEASE_MS,
  timerDelay,
} from "./_lock.ts";
import { heartbeat, release } from "./_lock_hold.ts";
import { shown } from "./_lock_directory.ts";
import { acquireAsync, acquireSync } from "./_lock_wait.ts";
import { runAsync, runSync } from "./_run.ts";
import {
  optionalBoolean,
  type OptionValues,
  takeOptions,
  toAbsolutePath,
  toMilliseconds,
  toSignal,
} from "./_validate.ts";

/**
 * How to wait for a lock, and how long to hold it without a heartbeat.
 * Only the object's own properties count, each read once: inherited ones
 * (a polluted `Object.prototype`'s too) are ignored.
 *
 * @example Usage
 * ```ts
 * import { lockFile, type LockOptions } from "@x/atomic";
 *
 * const options: LockOptions = { timeout: 5_000 };
 * const lock = await lockFile(`${await Deno.makeTempDir()}/db.json`, options);
 * await lock.release();
 * ```
 */
export interface LockOptions {
  /**
   * Milliseconds to wait for the lock; then the call fails with an
   * {@linkcode AtomicWriteError} with code `ETIMEDOUT`. `0` tries once.
   *
   * @default {Infinity (wait as long as it takes)}
   */
  timeout?: number | undefined;
  /**
   * Aborting it cancels the wait (and an update before its commit) with the
   * signal's reason. A synchronous wait (`lockFileSync`,
   * `updateFileAtomicSync`) blocks the thread, so no timer or event can
   * abort it meanwhile: only a signal aborted before the call (or by `fn`)
   * counts there; bound the wait with `timeout`.
   */
  signal?: AbortSignal | undefined;
  /**
   * Milliseconds after the last heartbeat at which other processes may take
   * the lock over. A holder on the same machine that dies is detected at
   * once whatever the lease; the lease decides for holders on other machines
   * (a network file system) and for live holders whose event loop stalls.
   * The heartbeat runs every `lease / 5`, and a holder stops trusting its
   * lock when less than `lease / 5` (its margin) is left. So a critical
   * section that keeps the event loop from running (the synchronous API,
   * or a synchronous `fn`) must end within the lease less its margin
   * (`lease - lease / 5`: 8 s by default), not the whole lease, or its
   * update fails with `ELOCKLOST` and does not commit. At least 1000 ms
   * (a `RangeError` otherwise): a shorter lease leaves the heartbeat too
   * little time to renew it, and its lock is lost within milliseconds.
   *
   * @default {10_000}
   */
  lease?: number | undefined;
  /**
   * Create missing parent directories for the lock file.
   *
   * @default {false}
   */
  mkdir?: boolean | undefined;
}

/**
 * A lock held by this process on a file, shared with every other process
 * (Deno, Bun or Node) that locks or updates the same file with this library.
 * Release it with {@linkcode FileLock.release}, or with `using` /
 * `await using`. It is released at exit too; a process ended by a signal it
 * does not handle leaves it, and the next process takes it over at once (its
 * holder is dead).
 *
 * @example Usage
 * ```ts
 * import { lockFile } from "@x/atomic";
 *
 * const dir = await Deno.makeTempDir();
 * {
 *   await using lock = await lockFile(`${dir}/ledger.json`);
 *   lock.signal.throwIfAborted(); // the lock was lost (another process took it over)
 * }
 * ```
 */
export interface FileLock extends Disposable, AsyncDisposable {
  /** The locked file: the path given, with symbolic links followed as a write follows them. */
  readonly path: string;
  /** The lock file beside it. */
  readonly lockPath: string;
  /**
   * Aborts, with an {@linkcode AtomicWriteError} of code `ELOCKLOST` as its
   * reason, if the lock is found lost: this process stalled past the lease
   * and another process took the lock over. Nothing throws from a timer,
   * and it never aborts once the lock is being released.
   */
  readonly signal: AbortSignal;
  /**
   * Releases the lock; resolves when the lock file is gone, or, where it
   * cannot be removed (an I/O error), its lease ended, so that the next
   * taker takes it over at once. Never rejects. Calling it again returns
   * the same promise (`await using` after a `release()` not awaited waits
   * for that release); after `releaseSync()` it resolves at once.
   */
  release(): Promise<void>;
  /**
   * Releases the lock synchronously. Calling it again does nothing, and so
   * does calling it while a `release()` is under way: that release removes
   * the lock's files, and a synchronous call cannot wait for it.
   */
  releaseSync(): void;
}

/** The implementation of {@linkcode FileLock}; updates use its `held` state. */
export class HeldLock implements FileLock {
  readonly path: string;
  readonly lockPath: string;
  readonly held: Held;
  #context: Context;
  #controller = new AbortController();
  #stop: () => void;
  #lockForgotten = false;
  #forgotten = false;
  /** The first `release()`, which a later call returns. */
  #releasing: Promise<void> | null = null;
  /** The names the release removes besides the lock's, as it was taken. */
  readonly #ownNames: { holder: string | null; ticket: string | null };

  constructor(held: Held, context: Context) {
    this.held = held;
    this.path = held.final;
    this.lockPath = shown(held.plan, held.path);
    this.#context = context;
    // Its names are in `inFlight` since it was taken, released at exit, and
    // its identity in `heldLocks` (`_lock_acquire.ts`).
    this.#ownNames = {
      holder: held.holder,
      ticket: held.ticket === null ? null : held.ticket.path,
    };
    held.onLost = () => {
      this.#forgetLock();
      this.#stop();
      this.#controller.abort(held.lost);
    };
    // A lease of more than about 124 days beats more often than lease / 5.
    const every = timerDelay(held.plan.lease / HEARTBEATS_PER_LEASE);
    this.#stop = context.adapter.repeat(() => {
      runAsync(heartbeat(held), context.async).catch(() => {});
    }, every);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /**
   * Stops counting the lock's name and identity as this thread's, once: a
   * later lock of this thread may have both again (the same descriptor
   * number for its directory, the same inode for its file), and a second
   * `release()`, or one after the lock was lost, must not take them from it.
   */
  #forgetLock(): void {
    if (this.#lockForgotten) return;
    this.#lockForgotten = true;
    this.#context.inFlight.delete(this.held.path);
    this.#context.heldLocks.delete(this.held.id);
  }

  /**
   * Stops the heartbeat and forgets the lock's name and identity as this
   * thread's, as its release starts; whether this is the first release.
   */
  #forget(): boolean {
    if (this.#forgotten) return false;
    this.#forgotten = true;
    this.#stop();
    this.#forgetLock();
    return true;
  }

  /**
   * Forgets the holder's own name and its ticket, once the first release
   * has removed them: until then the exit hook finishes that release
   * (`releaseAtExit` of `_lock_hold.ts`).
   */
  #forgetNames(): void {
    const inFlight = this.#context.inFlight;
    if (this.#ownNames.holder !== null) inFlight.delete(this.#ownNames.holder);
    if (this.#ownNames.ticket !== null) inFlight.delete(this.#ownNames.ticket);
  }

  release(): Promise<void> {
    if (this.#releasing !== null) return this.#releasing;
    const first = this.#forget();
    const releasing = runAsync(release(this.held), this.#context.async);
    return this.#releasing = first
      ? releasing.finally(() => this.#forgetNames())
      : releasing;
  }

  releaseSync(): void {
    const first = this.#forget();
    try {
      runSync(release(this.held), this.#context.adapter.sync);
    } finally {
      if (first) this.#forgetNames();
    }
  }

  [Symbol.dispose](): void {
    this.releaseSync();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

/** The options {@linkcode LockOptions} names. */
export const LOCK_OPTION_KEYS: readonly string[] = [
  "timeout",
  "signal",
  "lease",
  "mkdir",
];

/**
 * Checks the lock options in `given` (as `takeOptions` took them) for
 * `target`; throws before any file is touched.
 */
export function planLock(
  target: string,
  given: OptionValues,
  context: Context,
  watch: boolean,
  read = false,
): LockPlan {
  const signal = toSignal(given.signal);
  const mkdir = optionalBoolean(given.mkdir, "mkdir");
  return {
    target,
    timeout: toMilliseconds(given.timeout, "timeout", Infinity),
    lease: toLease(given.lease),
    signal,
    mkdir: mkdir ?? false,
    adapter: context.adapter,
    watch,
    read,
    inFlight: context.inFlight,
    held: context.heldLocks,
    directories: context.heldDirectories,
    directory: null,
  };
}

/** The `lease` option: see {@linkcode MIN_LEASE_MS} for its floor. */
function toLease(value: unknown): number {
  const lease = toMilliseconds(value, "lease", DEFAULT_LEASE_MS, true);
  if (lease < MIN_LEASE_MS) {
    throw new RangeError(
      `Cannot use option "lease": ${lease} is less than the minimum of ${MIN_LEASE_MS} ms`,
    );
  }
  return lease;
}

/** The lock plan of `lockFile(path, options)` and its synchronous twin. */
function lockPlanOf(
  path: unknown,
  options: unknown,
  context: Context,
  watch: boolean,
): LockPlan {
  const target = toAbsolutePath(path);
  return planLock(
    target,
    takeOptions(options, LOCK_OPTION_KEYS),
    context,
    watch,
  );
}

/** Takes the lock of `plan`, asynchronously. */
export async function takeLock(
  plan: LockPlan,
  context: Context,
): Promise<HeldLock> {
  return new HeldLock(await acquireAsync(plan, context.async), context);
}

/** Takes the lock of `plan`, blocking the thread while it waits. */
export function takeLockSync(plan: LockPlan, context: Context): HeldLock {
  return new HeldLock(acquireSync(plan, context.adapter.sync), context);
}

/**
 * Waits for the cross-process lock of `path` and takes it, for a critical
 * section of several steps or files. The lock is a file beside `path`
 * (`.NAME.atomic-lock`); `path` itself need not exist. Processes on Deno,
 * Bun and Node exclude each other. A lock whose holder died on this machine
 * is taken over at once; otherwise after its lease. Locks are not
 * re-entrant: locking a file again in the thread that holds its lock waits
 * for the first lock, or fails with `EDEADLK` when synchronous.
 *
 * For a read-modify-write of one file, {@linkcode updateFileAtomic} does
 * everything in one call.
 *
 * @param path The file to lock (a string or a `file:` URL).
 * @param options How long to wait, how to cancel; see {@linkcode LockOptions}.
 * @returns The lock, once held.
 * @throws {TypeError} If `path` or an option has the wrong type.
 * @throws {RangeError} If `timeout` or `lease` is out of range.
 * @throws {AtomicWriteError} With code `ETIMEDOUT` if `timeout` passed; `EDEADLK` if 17 reclaims of the lock by processes that died are in the way; `EEXIST` if a file that is not a lock file of this library is at the lock's name; `EPERM` if a dead holder's lock cannot be removed (another user's in a sticky directory, or a directory that lets nothing be removed); `EACCES`, `ENOTSUP` or `EISDIR` for a target a write would refuse (a link another user planted in a sticky directory, a special file, a directory); or the code of a failing file-system step.
 * @throws {unknown} If `options.signal` aborts the wait: its reason.
 *
 * @example Usage
 * ```ts
 * import { lockFile, writeFileAtomic } from "@x/atomic";
 *
 * const dir = await Deno.makeTempDir();
 * const lock = await lockFile(`${dir}/index.json`, { timeout: 10_000 });
 * try {
 *   await writeFileAtomic(`${dir}/data.json`, "[]");
 *   await writeFileAtomic(`${dir}/index.json`, '{"data":"data.json"}');
 * } finally {
 *   await lock.release();
 * }
 * ```
 */
export function lockFile(
  path: string | URL,
  options?: LockOptions,
): Promise<FileLock> {
  try {
    const context = currentContext();
    return takeLock(lockPlanOf(path, options, context, true), context);
  } catch (error) {
    return Promise.reject(error);
  }
}

/**
 * Waits for the cross-process lock of `path` and takes it, blocking the
 * thread while it waits (with `Atomics.wait`, looking at the lock between
 * sleeps: every 0.5 ms when next in line, every 2 ms further back, at most
 * every 10 ms in a long wait). The same
 * lock as {@linkcode lockFile}.
 *
 * @param path The file to lock (a string or a `file:` URL).
 * @param options How long to wait, how to cancel; see {@linkcode LockOptions}.
 * @returns The lock, once held.
 * @throws {TypeError} If `path` or an option has the wrong type.
 * @throws {RangeError} If `timeout` or `lease` is out of range.
 * @throws {AtomicWriteError} With code `ETIMEDOUT` if `timeout` passed; `EDEADLK` if this thread holds the lock already (or 17 reclaims of the lock by processes that died are in the way); `EEXIST` if a file that is not a lock file of this library is at the lock's name; `EPERM` if a dead holder's lock cannot be removed (another user's in a sticky directory, or a directory that lets nothing be removed); `EACCES`, `ENOTSUP` or `EISDIR` for a target a write would refuse (a link another user planted in a sticky directory, a special file, a directory); or the code of a failing file-system step.
 * @throws {unknown} If `options.signal` is aborted already: its reason.
 *
 * @example Usage
 * ```ts
 * import { lockFileSync } from "@x/atomic";
 *
 * const dir = Deno.makeTempDirSync();
 * {
 *   using _lock = lockFileSync(`${dir}/counter.txt`);
 *   // … read, compute, write …
 * }
 * ```
 */
export function lockFileSync(
  path: string | URL,
  options?: LockOptions,
): FileLock {
  const context = currentContext();
  return takeLockSync(lockPlanOf(path, options, context, false), context);
}
