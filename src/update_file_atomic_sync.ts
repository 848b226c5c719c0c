/** Read-modify-write of a file across processes, synchronously. */
import { currentContext } from "./_context.ts";
import { readLocked } from "./_lock_hold.ts";
import { takeLockSync } from "./lock_file.ts";
import { replace } from "./_replace.ts";
import { runSync } from "./_run.ts";
import {
  newContent,
  planUpdate,
  replacementUnderLock,
  type UpdateOptions,
  type UpdateResult,
} from "./update_file_atomic.ts";

/**
 * Updates `path` under a cross-process lock, blocking the thread: the same
 * steps and guarantees as {@linkcode updateFileAtomic}, with a synchronous
 * `fn`. While it waits for the lock the thread sleeps (`Atomics.wait`), it
 * does not spin. No heartbeat renews the lease while the thread is blocked,
 * so reading the file, `fn` and writing the new content must end within
 * the lease less its margin (`lease - lease / 5`, 8 s by default): a longer
 * update fails with `ELOCKLOST` and does not commit (raise `lease`).
 *
 * @typeParam T What `fn` returns.
 * @param path The file to update (a string or a `file:` URL); it need not exist.
 * @param fn Computes the new content from the current one (`null`: no file).
 * @param options How to wait and how to write; see {@linkcode UpdateOptions}.
 * @returns What `fn` returned.
 * @throws {TypeError} If an argument has the wrong type, or `fn` returns a promise or something else than a string, bytes or `undefined`.
 * @throws {RangeError} If `timeout`, `lease` or `mode` is out of range.
 * @throws {AtomicWriteError} With code `ETIMEDOUT`, `ELOCKLOST`, `EAGAIN` (the path no longer leads to the file locked), `EDEADLK` (this thread holds the file's lock already, or 17 reclaims of the lock by processes that died are in the way), `EEXIST` (a file that is not a lock file of this library at the lock's name), `EPERM` (a dead holder's lock that cannot be removed) or the code of a failing file-system step; the file is then unchanged.
 * @throws {unknown} If `options.signal` is aborted before the commit (already, or by `fn`): its reason; the file is then unchanged.
 *
 * @example Usage
 * ```ts
 * import { updateFileAtomicSync } from "@x/atomic";
 *
 * const path = `${Deno.makeTempDirSync()}/visits.txt`;
 * updateFileAtomicSync(path, (current) => {
 *   const visits = current ? Number(new TextDecoder().decode(current)) : 0;
 *   return String(visits + 1);
 * });
 * ```
 */
export function updateFileAtomicSync<T extends UpdateResult>(
  path: string | URL,
  fn: (current: Uint8Array | null) => T,
  options?: UpdateOptions,
): T {
  const context = currentContext();
  const plan = planUpdate(path, fn, options, context, false);
  const lock = takeLockSync(plan.lock, context);
  try {
    const current = runSync(readLocked(lock.held), context.adapter.sync);
    plan.write.signal?.throwIfAborted();
    const result = fn(current);
    if (result instanceof Promise) {
      // Its own failure is reported by this TypeError, not as an unhandled
      // rejection that would end the process.
      result.catch(() => {});
      throw new TypeError(
        `Cannot update "${plan.lock.target}": fn returned a promise; use updateFileAtomic()`,
      );
    }
    // Aborted by fn itself: as the asynchronous form, it rejects.
    plan.write.signal?.throwIfAborted();
    const bytes = newContent(plan, result);
    if (bytes !== null) {
      const s = replacementUnderLock(
        context,
        plan,
        lock,
        () => lock.releaseSync(),
      );
      runSync(replace(s, bytes), context.adapter.sync);
    }
    return result;
  } finally {
    lock.releaseSync();
  }
}
