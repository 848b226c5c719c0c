/** Read-modify-write of a file across processes, without lost updates. */
import { isArrayBuffer } from "node:util/types";
import type { AtomicOptions } from "./atomic_options.ts";
import { type Context, currentContext, startReplacement } from "./_context.ts";
import { guardOf, readLocked } from "./_lock_hold.ts";
import {
  type HeldLock,
  type LockOptions,
  planLock,
  takeLock,
} from "./lock_file.ts";
import { replace, type Replacement } from "./_replace.ts";
import { runAsync, untilAborted } from "./_run.ts";
import type { Held, LockPlan } from "./_lock.ts";
import {
  ATOMIC_OPTION_KEYS,
  type ResolvedOptions,
  resolveTaken,
  takeOptions,
  toAbsolutePath,
  toBytes,
} from "./_validate.ts";
import { LOCK_OPTION_KEYS } from "./lock_file.ts";

/** Every option an update takes: the write's and the lock's. */
const UPDATE_OPTION_KEYS: readonly string[] = [
  ...new Set([...ATOMIC_OPTION_KEYS, ...LOCK_OPTION_KEYS]),
];

/**
 * Options of {@linkcode updateFileAtomic} and {@linkcode updateFileAtomicSync}:
 * how to wait for the lock, and how to write. Only the object's own
 * properties count, each read once, by the lock and the write alike:
 * inherited ones (a polluted `Object.prototype`'s too) are ignored.
 *
 * @example Usage
 * ```ts
 * import { updateFileAtomic, type UpdateOptions } from "@x/atomic";
 *
 * const options: UpdateOptions = { timeout: 5_000, mode: 0o600 };
 * await updateFileAtomic(`${await Deno.makeTempDir()}/n`, () => "1", options);
 * ```
 */
export interface UpdateOptions extends AtomicOptions, LockOptions {}

/**
 * What `fn` may return: new content (a string, or bytes: any
 * `ArrayBufferView` or an `ArrayBuffer`, as `writeFileAtomic` takes), or
 * `undefined` to leave the file as it is.
 */
export type UpdateResult = string | ArrayBufferView | ArrayBuffer | undefined;

/** The checked arguments of an update. */
export interface UpdatePlan {
  readonly lock: LockPlan;
  readonly write: ResolvedOptions;
}

/** Checks the arguments of an update; throws before any file is touched. */
export function planUpdate(
  path: unknown,
  fn: unknown,
  options: unknown,
  context: Context,
  watch: boolean,
): UpdatePlan {
  const target = toAbsolutePath(path);
  const given = takeOptions(options, UPDATE_OPTION_KEYS);
  const lock = planLock(target, given, context, watch, true);
  if (typeof fn !== "function") {
    throw new TypeError(
      `Cannot update "${lock.target}": expected fn to be a function, got ${typeof fn}`,
    );
  }
  // The lock and the write share the options taken once: one signal, one mkdir.
  const write = resolveTaken(given);
  return { lock: { ...lock, creating: !write.overwrite }, write };
}

/** The new content `result` as bytes (strings in `plan`'s encoding); `null` to leave the file as it is. */
export function newContent(
  plan: UpdatePlan,
  result: unknown,
): Uint8Array | null {
  const target = plan.lock.target;
  if (result === undefined) return null;
  if (
    typeof result === "string" || ArrayBuffer.isView(result) ||
    isArrayBuffer(result)
  ) {
    return toBytes(result, "data", plan.write.encoding);
  }
  throw new TypeError(
    `Cannot update "${target}": fn must return a string, bytes (an ArrayBufferView or an ArrayBuffer) or undefined`,
  );
}

/**
 * The replacement an update makes under `lock`: it stops when the lock is
 * lost or the caller aborts, checks the lock just before its rename, and
 * calls `letGo` once renamed.
 */
export function replacementUnderLock(
  context: Context,
  plan: UpdatePlan,
  lock: HeldLock,
  letGo: () => void,
): Replacement {
  const { write } = plan;
  const signal = write.signal
    ? AbortSignal.any([write.signal, lock.signal])
    : lock.signal;
  const s = startReplacement(context, plan.lock.target, { ...write, signal });
  s.task = `update "${plan.lock.target}"`; // as the lock's own errors say
  return underLock(s, lock.held, letGo);
}

/**
 * Makes `s` a write under the lock `held`: it checks the lock just before
 * its rename (`letGo` starts the release once it has renamed), and makes
 * its files in the directory the lock holds, if it does.
 */
export function underLock(
  s: Replacement,
  held: Held,
  letGo: () => void,
): Replacement {
  s.guard = guardOf(held, letGo);
  s.locked = held.final;
  s.pinned = held.plan.directory?.handle ?? null;
  return s;
}

/**
 * Updates `path` under a cross-process lock, so that concurrent updates from
 * any number of processes (Deno, Bun or Node) never lose one another's
 * changes: reads the current content (`null` if the file does not exist),
 * calls `fn` with it, and, if `fn` returns a string or bytes, replaces the
 * file atomically with the same protocol, guarantees and options as
 * {@linkcode writeFileAtomic}. If `fn` returns `undefined` the file is left
 * as it is; if it throws, the file is unchanged and the error propagates
 * (directories that `mkdir` made for the lock stay). If `signal` aborts
 * while `fn` runs, the update rejects with its reason at once, and `fn`'s
 * result, when it comes, is dropped; the lock is held until then, so that
 * what `fn` does stays under it. The lock is released in every case, once
 * `fn` has settled.
 *
 * Readers need no lock: they see the old content or the new, never a mix.
 * An update whose lock was lost (this process stalled past the lease and
 * another took the lock over), or that has less than the lease's margin
 * (`lease / 5`) of it left when it is about to commit, does not commit and
 * rejects with code `ELOCKLOST`: an `fn` that blocks the event loop must
 * return within the lease less its margin (`lease - lease / 5`, 8 s by
 * default), since no heartbeat renews the lease meanwhile.
 *
 * @typeParam T What `fn` returns.
 * @param path The file to update (a string or a `file:` URL); it need not exist.
 * @param fn Computes the new content from the current one; may be async.
 * @param options How to wait and how to write; see {@linkcode UpdateOptions}.
 * @returns What `fn` returned.
 * @throws {TypeError} If an argument has the wrong type, or `fn` returns something else than a string, bytes or `undefined`.
 * @throws {RangeError} If `timeout`, `lease` or `mode` is out of range.
 * @throws {AtomicWriteError} With code `ETIMEDOUT` if the lock was not had within `timeout`, `ELOCKLOST` if it was lost before the commit, `EAGAIN` if the path no longer leads to the file locked when it would commit (a link or directory on the way swapped meanwhile), `EDEADLK` if 17 reclaims of the lock by processes that died are in the way, `EEXIST` if a file that is not a lock file of this library is at the lock's name; `EPERM` if a dead holder's lock cannot be removed (another user's in a sticky directory, or a directory that lets nothing be removed), or the code of a failing file-system step; the file is then unchanged.
 * @throws {unknown} If `options.signal` aborts before the commit: its reason; the file is then unchanged.
 *
 * @example Usage
 * ```ts
 * import { updateFileAtomic } from "@x/atomic";
 *
 * const path = `${await Deno.makeTempDir()}/counter.json`;
 * await updateFileAtomic(path, (current) => {
 *   const count = current ? JSON.parse(new TextDecoder().decode(current)).count : 0;
 *   return JSON.stringify({ count: count + 1 });
 * });
 * ```
 */
export async function updateFileAtomic<T extends UpdateResult>(
  path: string | URL,
  fn: (current: Uint8Array | null) => T | Promise<T>,
  options?: UpdateOptions,
): Promise<T> {
  const context = currentContext();
  const plan = planUpdate(path, fn, options, context, true);
  const lock = await takeLock(plan.lock, context);
  let releasing: Promise<void> | undefined;
  const letGo = () => void (releasing ??= lock.release());
  // fn, while it runs: the lock is not released before it settles.
  let running: Promise<unknown> | null = null;
  try {
    const current = await runAsync(readLocked(lock.held), context.async);
    // Aborted during the read: fn is not called.
    plan.write.signal?.throwIfAborted();
    // The signal cancels the update while fn runs too: the update rejects at
    // once, and fn's result, when it comes, is dropped; but the lock stays
    // until then, so that what fn does meanwhile is still under it.
    const pending = Promise.resolve(fn(current));
    running = pending;
    const done = () => void (running = null);
    pending.then(done, done);
    const result = await untilAborted(pending, plan.write.signal);
    const bytes = newContent(plan, result);
    if (bytes !== null) {
      const s = replacementUnderLock(context, plan, lock, letGo);
      await runAsync(replace(s, bytes), context.async);
    }
    return result;
  } finally {
    // Read once: `running` is cleared as fn settles.
    const stillRunning = running as Promise<unknown> | null;
    if (stillRunning === null) {
      letGo();
      await releasing;
    } else stillRunning.then(letGo, letGo);
  }
}
