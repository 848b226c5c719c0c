/**
 * Telling a name taken from a refusal, after an exclusive create or a link
 * failed: the lock's `link` and `O_EXCL` create (`_lock.ts`,
 * `_lock_acquire.ts`) and `overwrite: false`'s link (`_replace.ts`).
 *
 * @module
 */
import { errorCode } from "./_error_code.ts";
import { request, settle, type Steps } from "./_steps.ts";

/**
 * The codes that may stand for `EEXIST`: sshfs reports a name another
 * client made just before (the kernel did not know it yet, and SFTP has
 * one code for both) as `EPERM`; and a file system without hard links
 * refuses every link (`EPERM`, or `EISDIR` as libuv reports Windows' exFAT
 * and FAT), whether the name is taken or not.
 */
const MAYBE_TAKEN = new Set(["EPERM", "EISDIR"]);

/**
 * Whether an exclusive create or a link at `path` that failed with `error`
 * found the name taken: `EEXIST`, or a code that may stand for it (see
 * {@linkcode MAYBE_TAKEN}) with something at the name now. An entry that
 * appears between the two is taken for one that was there: either way,
 * the name is not free.
 */
export function* nameTaken(path: string, error: unknown): Steps<boolean> {
  const code = errorCode(error);
  if (code === "EEXIST") return true;
  if (code === undefined || !MAYBE_TAKEN.has(code)) return false;
  const found = yield* settle(request("lstat", path));
  return found.ok && found.value !== null;
}
