/**
 * What the CLI's `--update` and `--append` need to stream under a lock of
 * theirs, as an update does with bytes (`update_file_atomic.ts`): the file
 * the lock holds, read and replaced in the directory the lock holds
 * (`_lock_directory.ts`), whatever the path leads to meanwhile, and the
 * lock checked just before the rename.
 */
import type { AtomicFile } from "./atomic_file.ts";
import type { AtomicOptions } from "./atomic_options.ts";
import { AtomicFileHandle } from "./_atomic_file.ts";
import { currentContext, startReplacement } from "./_context.ts";
import { through } from "./_lock_directory.ts";
import { checkOpened } from "./_lock_hold.ts";
import { runAsync } from "./_run.ts";
import { underLock } from "./update_file_atomic.ts";
import { resolveOptions } from "./_validate.ts";
import type { FileLock, HeldLock } from "./lock_file.ts";
import { idOfBigints } from "./runtime/_file_id.ts";

/**
 * The path to read the file `lock` holds by: through the directory it
 * holds, if it does. To be opened with `O_NOFOLLOW`: the file locked was
 * no link, and one there now leads to a file not locked.
 */
export function lockedEntry(lock: FileLock): string {
  const held = (lock as HeldLock).held;
  return through(held.plan, held.final);
}

/**
 * Refuses the file just opened at {@linkcode lockedEntry} (`opened`, its
 * `fstat`), as an update refuses what it reads: one another user made in a
 * shared sticky directory since the lock looked at the name (`EACCES`), or
 * one the name no longer leads to (`EAGAIN`). `opened` is a `bigint`
 * `fstat`: one whose numbers may have been rounded (Deno's, above 2^53:
 * `_file_id.ts`) cannot tell the file, which is refused too.
 */
export function checkLockedOpen(
  lock: FileLock,
  opened: { readonly dev: bigint; readonly ino: bigint },
): Promise<void> {
  return runAsync(
    checkOpened((lock as HeldLock).held, idOfBigints(opened.dev, opened.ino)),
    currentContext().async,
  );
}

/**
 * An {@linkcode AtomicFile} that replaces the file `lock` holds, in the
 * directory it holds, and fails with `ELOCKLOST` instead of renaming if the
 * lock was lost meanwhile; `options` as `openAtomic`'s.
 */
export function openUnderLock(
  lock: FileLock,
  options: AtomicOptions,
): Promise<AtomicFile> {
  const held = (lock as HeldLock).held;
  const context = currentContext();
  const resolved = resolveOptions(options);
  resolved.signal?.throwIfAborted();
  const s = startReplacement(context, held.plan.target, resolved);
  // The caller releases the lock itself, after the commit.
  underLock(s, held, () => {});
  return AtomicFileHandle.open(s, context);
}
