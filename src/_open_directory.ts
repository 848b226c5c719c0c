/**
 * Opening a directory to hold it, the first step of a write (`hold` in
 * `_replace.ts`) and of a lock (`_lock_acquire.ts`): both name their files
 * through it from then on.
 *
 * @module
 */
import type { DirectoryHandle } from "./runtime/types.ts";
import { errorCode } from "./_error_code.ts";
import { request, settle, type Steps } from "./_steps.ts";
import { isDirUnreadable } from "./runtime/_posix.ts";

/**
 * Opens the directory `dir` to name files through it; a missing one is
 * made first by `make`, where given (the `mkdir` option). `null` where it
 * cannot be held: the runtime cannot name files through a directory, or
 * this user may write in it but not read it (a drop box, mode 0733), and
 * its files are named by path. Any other failure is thrown, as `fail`
 * reports it.
 */
export function* openToHold(
  dir: string,
  make: (() => Steps<void>) | undefined,
  fail: (error: unknown) => unknown,
): Steps<DirectoryHandle | null> {
  let opened = yield* settle(request("openDirectory", dir));
  if (!opened.ok && errorCode(opened.error) === "ENOENT" && make) {
    yield* make();
    opened = yield* settle(request("openDirectory", dir));
  }
  if (opened.ok) return opened.value;
  if (isDirUnreadable(opened.error)) return null;
  throw fail(opened.error);
}
