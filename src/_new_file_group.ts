/**
 * The group the kernel gives a new file, such as the temporary file: the
 * directory's group where the directory has the set-group-ID bit, or where
 * its file system was mounted with `grpid` (BSD semantics, on ext2/3/4 and
 * xfs); the writer's own group otherwise. Keeping a replaced file's group
 * (`_owner_and_mode.ts`) starts from it: a file moved into a shared
 * set-group-ID directory keeps its own group, and a rewrite must not hand
 * it to the directory's.
 *
 * Told from the directory's `stat`, made alongside an earlier step (no round
 * trip of its own), and, only where the directory's group is not the
 * writer's and has no set-group-ID bit, from the mount's options in
 * `/proc/self/mountinfo`, read once per device per process.
 */
import { deviceOf, mountsOf } from "./_mount_point.ts";
import type { Resolution } from "./_replacement.ts";
import type { Steps } from "./_steps.ts";
import type { EntryInfo, ProcessIds } from "./runtime/types.ts";

const SET_GROUP_ID = 0o2000;

/** Whether each device (`EntryInfo` id's device part) is mounted with `grpid`; `null`: cannot tell. */
const grpidByDevice = new Map<string, boolean | null>();

/** Whether the file system of `directory` is mounted with `grpid`; `null` where the mounts cannot be read. */
function* mountedWithGrpid(directory: EntryInfo): Steps<boolean | null> {
  const device = deviceOf(directory);
  const known = grpidByDevice.get(device);
  if (known !== undefined) return known;
  const mounts = yield* mountsOf(directory);
  // Options are the file system's: the same on every mount of the device.
  const found = mounts === null
    ? null
    : mounts.some((mount) =>
      mount.options.includes("grpid") || mount.options.includes("bsdgroups")
    );
  grpidByDevice.set(device, found);
  return found;
}

/**
 * The group a file created now in `s.final`'s directory gets, by the
 * writer `ids`; `null` where it cannot be told (the directory's `stat` was
 * not made or failed, or the mounts cannot be read where they matter).
 */
export function* groupOfNewFile(
  s: Resolution,
  ids: ProcessIds,
): Steps<number | null> {
  const directory = s.directory;
  if (!directory || directory.gid < 0) return null;
  if (directory.mode & SET_GROUP_ID || directory.gid === ids.gid) {
    return directory.gid;
  }
  const grpid = yield* mountedWithGrpid(directory);
  return grpid === null ? null : grpid ? directory.gid : ids.gid;
}
