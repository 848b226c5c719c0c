/**
 * The group the kernel gives a new file, such as the temporary file, where
 * the directory alone tells it: a directory of the writer's own or root's
 * (another user who owns it could change its group or set-group-ID bit
 * between its `stat` and the create), whose group is the writer's, or that
 * has the set-group-ID bit. Keeping a replaced file's group
 * (`_owner_and_mode.ts`) starts from it: a file moved into a shared
 * set-group-ID directory keeps its own group, and a rewrite must not hand
 * it to the directory's.
 *
 * Told from the directory's `stat`, made alongside an earlier step (no round
 * trip of its own). Anywhere else the group depends on the mount: the
 * directory's where its file system was mounted with `grpid` (BSD
 * semantics, on ext2/3/4 and xfs), also under an overlay whose upper layer
 * was (the overlay's own options do not say so), or after a remount; so
 * only the new file's `lstat` tells.
 */
import type { Resolution } from "./_replacement.ts";
import type { ProcessIds } from "./runtime/types.ts";

const SET_GROUP_ID = 0o2000;

/**
 * The group a file created now in `s.final`'s directory gets, by the
 * writer `ids`; `null` where the directory alone cannot tell (see above),
 * or its `stat` was not made or failed. (The writer's ids are the runtime's
 * word: Deno's real ids, without `--allow-all`.)
 */
export function groupOfNewFile(
  s: Resolution,
  ids: ProcessIds,
): number | null {
  const directory = s.directory;
  if (!directory || directory.gid < 0) return null;
  if (directory.uid !== ids.uid && directory.uid !== 0) return null;
  return directory.mode & SET_GROUP_ID || directory.gid === ids.gid
    ? directory.gid
    : null;
}
