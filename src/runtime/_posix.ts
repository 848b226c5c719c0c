/**
 * The facts about the operating system that every adapter shares, in one
 * place so that the runtimes cannot drift apart: which platform has no
 * owners or directory fsync, which rename failures are transient, which directory-fsync failures mean "not
 * supported", and (in `_errno.ts`) what every errno is called.
 *
 * @module
 */
import process from "node:process";
import { isWithheldPermission, posixCode } from "./_errno.ts";

/** Windows: no owners, no directory fsync, transient rename failures. */
export const isWindows: boolean = process.platform === "win32";

/**
 * Error codes from `rename` that are transient on this platform and worth
 * retrying: on Windows, virus scanners and indexers hold files briefly
 * (`EPERM`, `EBUSY`, `EACCES`). None on POSIX, where they are final.
 */
export const RENAME_RETRY_CODES: ReadonlySet<string> = new Set(
  isWindows ? ["EPERM", "EBUSY", "EACCES"] : [],
);

/**
 * Codes with which a file system says it cannot fsync a directory, which is
 * not a failure (there is nothing more to make durable): `EINVAL` and
 * `ENOTSUP` from FUSE, CIFS and some network file systems, `EISDIR` where a
 * directory cannot be opened for it at all.
 */
const DIR_SYNC_UNSUPPORTED: ReadonlySet<string> = new Set([
  "EINVAL",
  "ENOTSUP",
  "EISDIR",
]);

/** Whether a directory fsync's `error` only says that the file system cannot do it. */
export function isDirSyncUnsupported(error: unknown): boolean {
  return DIR_SYNC_UNSUPPORTED.has(posixCode(error) ?? "");
}

/**
 * Whether opening a directory to fsync it failed because this user may
 * write in it but not read it (`EACCES`: a drop box, mode 0733). No process
 * of this user can fsync it then; the rename is as durable as the file
 * system makes it on its own, which is no failure of the write (it would
 * otherwise fail after its commit, every time).
 */
export function isDirUnreadable(error: unknown): boolean {
  // A permission the runtime withholds (Deno's `NotCapable`, Node's
  // `ERR_ACCESS_DENIED`) is the caller's to grant.
  return posixCode(error) === "EACCES" && !isWithheldPermission(error);
}
