/**
 * The directory a lock names its files through. Another user who owns a
 * directory on the target's path (root locking `/home/user/sub/config`)
 * can swap `sub` for a link to a directory of root's while the lock is
 * waited for or held. Named by path, the lock's later steps would then act
 * there: its release would remove `.config.atomic-lock` of root's own
 * directory (another lock, live), and an update would read one file and
 * replace another. So the lock opens the target's directory once, as it
 * starts, and names every file of its own through it
 * (`/proc/self/fd/N/name`) until it is released: the holder's file, the
 * lock, the reclaim mutexes, the line of waiters; an update reads the
 * locked file and makes its write there too (`pinned` in
 * `_replacement.ts`). Where it cannot be held (no /proc, Deno without
 * `--allow-all`, Node's permission model, a directory this user may write
 * but not read), a lock names its files by path, as before.
 *
 * Messages and `FileLock.lockPath` name the path the directory was opened
 * by, never `/proc/self/fd`: see {@linkcode shown}.
 */
import { basename } from "node:path";
import type { HeldDirectories } from "./_held_directories.ts";
import { inDirectory } from "./_replacement.ts";
import { request, settle, type Steps } from "./_steps.ts";
import type { DirectoryHandle } from "./runtime/types.ts";

/** A directory a lock holds open, and the path it was opened by. */
export interface LockDirectory {
  readonly handle: DirectoryHandle;
  /** The path it was opened by, which messages name. */
  readonly dir: string;
  /** The thread's directories held open: the last user closes it. */
  readonly directories: HeldDirectories;
}

/** What of a lock plan the directory held concerns. */
export interface HoldsDirectory {
  /** The directory held open for the lock's files, once it is. */
  directory?: LockDirectory | null;
}

/**
 * `path`, an entry of the lock's directory, as the lock's steps name it:
 * through the directory held, if it is.
 */
export function through(plan: HoldsDirectory, path: string): string {
  const held = plan.directory;
  return held ? inDirectory(held.handle.path, basename(path)) : path;
}

/**
 * `path`, as messages name it: a path through the directory held (or a
 * directory in it, the line of waiters) is given by the directory's own
 * path instead.
 */
export function shown(plan: HoldsDirectory, path: string): string {
  const held = plan.directory;
  if (!held) return path;
  const prefix = inDirectory(held.handle.path, "");
  return path.startsWith(prefix)
    ? inDirectory(held.dir, path.slice(prefix.length))
    : path;
}

/**
 * Lets go of the directory held, if any: closed once no update's write
 * uses it any more. Never throws.
 */
export function* letGo(plan: HoldsDirectory): Steps<void> {
  const held = plan.directory;
  if (!held) return;
  plan.directory = null;
  if (held.directories.release(held.handle)) {
    yield* settle(request("close", held.handle.file));
  }
}
