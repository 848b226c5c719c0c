/** Opening a file for an atomic, crash-safe replacement. */
import type { AtomicFile } from "./atomic_file.ts";
import type { AtomicOptions } from "./atomic_options.ts";
import { AtomicFileHandle } from "./_atomic_file.ts";
import { currentContext, startReplacement } from "./_context.ts";
import { resolveOptions, toAbsolutePath } from "./_validate.ts";
import { untilAborted } from "./_run.ts";

/**
 * `work` (the callback's promise), or the signal's reason once the signal
 * has aborted and `file` has ended without replacing the target, whichever
 * comes first, in either order: a callback stalled on something that never
 * comes (a stream that never ends) does not hold the call past that. The
 * abort may find the file committing, waiting for its turn behind an
 * earlier write (a stream not ended yet): the call then rejects when the
 * commit fails by it. One that committed is waited for.
 */
function untilStopped<T>(
  work: Promise<T>,
  file: AtomicFileHandle,
  signal: AbortSignal | undefined,
): Promise<T> {
  if (signal === undefined) return work;
  const endedByAbort = file.ended.then(() =>
    signal.aborted && file.discarded
      ? Promise.reject(signal.reason)
      : new Promise<never>(() => {})
  );
  return untilAborted(
    Promise.race([work, endedByAbort]),
    signal,
    () => file.discarded,
  );
}

/**
 * Opens `path` for an atomic replacement and returns the handle: nothing is
 * visible at `path` until `commit()`; leaving scope without it discards.
 *
 * @param path The file to replace (a string or a `file:` URL).
 * @param options How to write; see {@linkcode AtomicOptions}.
 * @returns The open {@linkcode AtomicFile}; its temporary file exists already.
 * @throws {TypeError} If an argument has the wrong type, an option is unknown, or `path` is empty or contains a NUL byte.
 * @throws {RangeError} If `mode` is not a permission mask (an integer from 0 to 0o7777).
 * @throws {AtomicWriteError} If the temporary file cannot be created (`ENOENT`, `EACCES`, `EISDIR`, …).
 *
 * @example Usage
 * ```ts
 * import { openAtomic } from "@x/atomic";
 *
 * const dir = await Deno.makeTempDir();
 * await using file = await openAtomic(`${dir}/big.bin`);
 * await ReadableStream.from([new Uint8Array(1024)]).pipeTo(file.writable); // close commits
 * ```
 */
export function openAtomic(
  path: string | URL,
  options?: AtomicOptions,
): Promise<AtomicFile>;
/**
 * Opens `path` for an atomic replacement, runs `fn` with the handle, and
 * commits when `fn` resolves, or discards and rethrows when it throws (like
 * Python's `with open_atomic(path) as f:`).
 *
 * @typeParam T What `fn` returns.
 * @param path The file to replace (a string or a `file:` URL).
 * @param fn Writes the new content.
 * @param options How to write; see {@linkcode AtomicOptions}.
 * @returns What `fn` returned, once the new content is in place.
 * @throws {TypeError} If an argument has the wrong type, an option is unknown, or `path` is empty or contains a NUL byte.
 * @throws {RangeError} If `mode` is not a permission mask (an integer from 0 to 0o7777).
 * @throws {AtomicWriteError} If a file-system step fails; the target is then unchanged, unless only the final directory fsync failed (`committed` is then true).
 * @throws {unknown} If `options.signal` aborts before the commit: its reason,
 * once the temporary file is removed (the target is unchanged).
 *
 * @example Usage
 * ```ts
 * import { openAtomic } from "@x/atomic";
 *
 * const dir = await Deno.makeTempDir();
 * await openAtomic(`${dir}/out.txt`, async (file) => {
 *   for (const line of ["one", "two"]) await file.write(line + "\n");
 * });
 * ```
 */
export function openAtomic<T>(
  path: string | URL,
  fn: (file: AtomicFile) => T | Promise<T>,
  options?: AtomicOptions,
): Promise<T>;
export async function openAtomic<T>(
  path: string | URL,
  fnOrOptions?: ((file: AtomicFile) => T | Promise<T>) | AtomicOptions,
  options?: AtomicOptions,
): Promise<AtomicFile | T> {
  const fn = typeof fnOrOptions === "function" ? fnOrOptions : undefined;
  if (fn === undefined && options !== undefined) {
    throw new TypeError(
      "Cannot open atomically: the second argument must be a function when options follow it",
    );
  }
  const target = toAbsolutePath(path);
  const resolved = resolveOptions(fn ? options : fnOrOptions);
  resolved.signal?.throwIfAborted();
  const context = currentContext();
  const file = await AtomicFileHandle.open(
    startReplacement(context, target, resolved),
    context,
  );
  if (fn === undefined) return file;
  let result: T;
  try {
    result = await untilStopped(
      (async () => await fn(file))(),
      file,
      resolved.signal,
    );
    // A callback may commit or abort by itself: an abort it chose stands
    // (and is waited for, awaited or not), an abort by the signal fails
    // (commit() rejects with the signal's reason).
    if (file.aborted && !resolved.signal?.aborted) await file.abort();
    else await file.commit();
  } catch (error) {
    await file.abort(); // settles once the temporary file is gone
    throw error;
  }
  return result;
}
