/**
 * What the compat entry points pass to a callback, or reject with, when a
 * write fails. Typed as `atomically` types it (`NodeJS.ErrnoException`),
 * so that a callback written against the package's types compiles
 * unchanged.
 */

/**
 * The error of a failed write: an {@linkcode AtomicWriteError} for a
 * file-system failure (with its system `code`, such as `ENOENT` or
 * `ENOSPC`, and `errno`, `syscall` and `path`), a `TypeError` or
 * `RangeError` for an argument refused before any file is touched (with
 * Node's `code`, such as `ERR_INVALID_ARG_TYPE`, where Node's `fs` would
 * refuse it too), or what a function given in the options (`tmpfileCreated`,
 * `tmpCreated`, `schedule`) threw, passed on as it was thrown.
 *
 * @example Usage
 * ```ts
 * import { writeFile } from "@x/atomic/compat/atomically";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFile(`${dir}/settings.json`, "{}", (error) => {
 *   // For example ENOSPC, or EISDIR where a directory has the name.
 *   if (error) console.error(error.code, error.message);
 * });
 * ```
 */
export interface Exception extends Error {
  /** The system error code (`ENOENT`, …) or Node's (`ERR_INVALID_ARG_TYPE`, …), if there is one. */
  code?: string | undefined;
  /** The error number in Node's convention (negative), for a file-system failure. */
  errno?: number | undefined;
  /** The path the failed operation was given, for a file-system failure. */
  path?: string | undefined;
  /** The system call that failed, where the runtime names it. */
  syscall?: string | undefined;
}
