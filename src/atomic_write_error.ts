/** The error every file-system failure of this library is reported as. */
import {
  ERRNO_NUMBERS,
  isWithheldPermission,
  posixCode,
} from "./runtime/_errno.ts";
import { isNotUtf8Name } from "./runtime/_exact_name.ts";

/** What an {@linkcode AtomicWriteError} is made from. */
export interface AtomicWriteErrorInit {
  /** The system error code, the same on every runtime (`ENOENT`, `ENOSPC`, …). */
  code: string;
  /** The operation that failed (`"write"`, `"fsync"`, `"rename"`, …). */
  operation: string;
  /** The path the operation was applied to (the temporary file, the target, its directory). */
  path: string;
  /** The file the caller asked to replace (the directory, for a sweep or a new temporary file). */
  target: string;
  /** The runtime's own error, if there was one. */
  cause?: unknown;
  /** What went wrong, when there is more to say than the code. */
  reason?: string | undefined;
  /**
   * What the caller asked for, as the message's start says it
   * (`remove stale temporary files in "/srv"`).
   *
   * @default {`replace "${target}"`}
   */
  task?: string | undefined;
}

/**
 * The error number for `code` in Node's convention (negated, as libuv gives
 * it: `ENOENT` is -2 on Linux) when a system call failed (`cause` carries a
 * system code): the runtime's own when it names `code` (Node, Bun),
 * otherwise from the errno table every code comes from (`runtime/_errno.ts`:
 * Deno gives codes only; a code the library gave instead of the call's, as
 * `ENAMETOOLONG` for `getcwd`'s `ERANGE`). None when no call failed (a
 * permission the runtime withheld, a failure the library found itself).
 */
function errnoOf(code: string, cause: unknown): number | undefined {
  const given = posixCode(cause);
  if (
    given === undefined || !ERRNO_NUMBERS.has(given) ||
    isWithheldPermission(cause)
  ) return undefined;
  const errno = (cause as { errno?: unknown }).errno;
  if (given === code && typeof errno === "number") return errno;
  const number = ERRNO_NUMBERS.get(code);
  return number === undefined ? undefined : -number;
}

/**
 * What an adapter's error says besides its code: the runtime's message for
 * a permission it withholds (Deno's names the flag to grant; Node's says
 * what its permission model disables); the same words on every runtime for
 * a name that is not UTF-8.
 */
function reasonOf(cause: unknown): string | undefined {
  if (isWithheldPermission(cause)) return (cause as Error).message;
  return isNotUtf8Name(cause)
    ? "a name it read is not valid UTF-8, and as a string would name another file"
    : undefined;
}

/** The system call that failed, as the runtime named it (Node, Bun). */
function syscallOf(cause: unknown): string | undefined {
  const given = (cause as { syscall?: unknown } | null)?.syscall;
  return typeof given === "string" ? given : undefined;
}

/**
 * A failed atomic write. The target is left as it was before the call (except
 * when only the final directory fsync failed: see {@linkcode AtomicWriteError.committed}),
 * and the temporary file has been removed.
 *
 * @example Usage
 * ```ts
 * import { AtomicWriteError, writeFileAtomic } from "@x/atomic";
 *
 * try {
 *   await writeFileAtomic("/no/such/dir/file.txt", "data");
 * } catch (error) {
 *   if (error instanceof AtomicWriteError && error.code === "ENOENT") {
 *     console.log(`${error.operation} failed on ${error.path}`);
 *   }
 * }
 * ```
 */
export class AtomicWriteError extends Error {
  /** The system error code, the same on every runtime (`ENOENT`, `EEXIST`, `ENOSPC`, …). */
  readonly code: string;
  /** The operation that failed (`"create temporary file"`, `"write"`, `"fsync"`, `"rename"`, …). */
  readonly operation: string;
  /** The path the failed operation was applied to. */
  readonly path: string;
  /** The file the caller asked to replace. */
  readonly target: string;
  /**
   * `true` when the new content is already in place and only making the
   * rename durable (the directory fsync) failed.
   */
  readonly committed: boolean;
  /**
   * The system error number in Node's convention (negative: `ENOENT` is -2
   * on Linux), when a system call failed; on Deno, which reports codes
   * only, it is looked up from {@linkcode AtomicWriteError.code}.
   */
  readonly errno?: number;
  /**
   * The system call that failed (`"open"`, `"rename"`, …) where it is known:
   * on every runtime for a file's creation and the calls on an open file, and
   * on Node and Bun for the calls on a path too (Deno does not name its
   * `rename`, `link`, `unlink` or `lstat`).
   */
  readonly syscall?: string;

  /**
   * Makes the error; the library does this, users rarely need to.
   *
   * @param init What failed, where, and why.
   * @param committed Whether the new content is already in place.
   */
  constructor(init: AtomicWriteErrorInit, committed = false) {
    const what = init.path === init.target
      ? `${init.operation} failed`
      : `${init.operation} "${init.path}" failed`;
    const reason = init.reason ?? reasonOf(init.cause);
    super(
      `Cannot ${
        init.task ?? `replace "${init.target}"`
      }: ${what} (${init.code}${reason ? `: ${reason}` : ""})`,
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.name = "AtomicWriteError";
    this.code = init.code;
    this.operation = init.operation;
    this.path = init.path;
    this.target = init.target;
    this.committed = committed;
    const errno = errnoOf(init.code, init.cause);
    if (errno !== undefined) this.errno = errno;
    const syscall = syscallOf(init.cause);
    if (syscall !== undefined) this.syscall = syscall;
  }
}
