/**
 * A file mounted onto the target (Docker's single-file volumes, `mount
 * --bind file target`) cannot be replaced: `rename` fails with `EBUSY` on a
 * mount point. Found before any data is written where that is cheap: a
 * file on another device than its directory is looked up in
 * `/proc/self/mountinfo`. A file mounted from the same device looks like any
 * other file; the rename still tells (`mountPointFailure` in `_replace.ts`).
 */
import { basename, dirname } from "node:path";
import type { EntryInfo } from "./runtime/types.ts";
import { problem, type Resolution } from "./_replacement.ts";
import { request, settle, type Steps } from "./_steps.ts";

/** Where Linux lists the mounts this process sees. */
const MOUNTINFO = "/proc/self/mountinfo";

/** Why a mount point cannot be replaced, and what to do instead. */
export const MOUNT_POINT_REASON =
  "the target is a mount point (a file mounted onto it, as Docker does for single files); mount its directory instead";

/** The device part of an entry's id (`device:inode`). */
function deviceOf(entry: EntryInfo): string {
  return entry.id.slice(0, entry.id.indexOf(":"));
}

/** A mount point as `mountinfo` spells it: spaces and the like as `\040`. */
function unescaped(field: string): string {
  return field.replace(
    /\\([0-7]{3})/g,
    (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/** A mount of one device, as `mountinfo` lists it. */
export interface Mount {
  /** Where it is mounted. */
  readonly point: string;
  /** Its file system's own options (`rw`, `grpid`, …). */
  readonly options: readonly string[];
}

/** A mount as `mountinfo` lists it, with its device. */
export interface MountLine extends Mount {
  /** The device, as `major:minor`. */
  readonly device: string;
  /** Its id in the table. */
  readonly id: string;
  /** The id of the mount it is made on (its own, or none in the table, for a root). */
  readonly parent: string;
}

/** The mounts a `mountinfo` text lists, in its order. */
export function parseMountinfo(text: string): MountLine[] {
  const mounts: MountLine[] = [];
  for (const line of text.split("\n")) {
    // ID PARENT MAJOR:MINOR ROOT POINT OPTIONS [OPTIONAL…] - TYPE SOURCE SUPER
    const fields = line.split(" ");
    const rest = fields.indexOf("-", 6);
    if (rest < 0 || fields.length < rest + 4) continue;
    mounts.push({
      id: fields[0],
      parent: fields[1],
      device: fields[2],
      point: unescaped(fields[4]),
      options: fields[rest + 3].split(","),
    });
  }
  return mounts;
}

/**
 * The mounts `table` (`/proc/self/mountinfo` by default) lists; `null`
 * where they cannot be read (not Linux, Deno without access to `/proc`).
 */
function* mountTable(table: string = MOUNTINFO): Steps<MountLine[] | null> {
  const read = yield* settle(request("readFile", table));
  if (!read.ok || read.value === null) return null;
  return parseMountinfo(new TextDecoder().decode(read.value.bytes));
}

/**
 * The points in `mounts` (a `mountinfo` table) that end in `name` and that
 * a path can reach (see {@linkcode hiddenIn}), whatever device they are of:
 * a file's `stat` may not give the device `mountinfo` names (btrfs, an
 * overlay of layers on several file systems).
 */
function pointsNamed(
  mounts: readonly MountLine[],
  name: string,
): string[] {
  const hidden = hiddenIn(mounts);
  return mounts.flatMap((mount) =>
    basename(mount.point) === name && !hidden(mount) ? [mount.point] : []
  );
}

/**
 * A test of whether a mount of `mounts` is hidden: a mount made on the same
 * mount at a directory above its point (made later, or moved or propagated
 * there) hides it, and so does one that hides the mount it is made on. Told
 * by the mounts' ids and parents, which say how they are stacked (a mount
 * propagated from the host is slipped under the one at its point, and is
 * listed after it). One mounted on top of it at its own point does not hide
 * its point: that is still a mount point. A mount at `/` is never taken to
 * hide another (its parent may be outside the table).
 */
export function hiddenIn(
  mounts: readonly MountLine[],
): (mount: MountLine) => boolean {
  const byId = new Map(mounts.map((mount) => [mount.id, mount]));
  const onMount = new Map<string, MountLine[]>();
  for (const mount of mounts) {
    const siblings = onMount.get(mount.parent) ?? [];
    siblings.push(mount);
    onMount.set(mount.parent, siblings);
  }
  const known = new Map<MountLine, boolean>();
  const hidden = (mount: MountLine, depth: number): boolean => {
    const answer = known.get(mount);
    if (answer !== undefined) return answer;
    // The mounts made on the same one hide it whether or not the table
    // lists that one (a chroot's are made on the host's root, which it
    // does not).
    const parent = byId.get(mount.parent);
    const isHidden = mount.parent !== mount.id && depth < mounts.length &&
      ((onMount.get(mount.parent) ?? []).some((other) =>
        other.point !== "/" && mount.point.startsWith(`${other.point}/`)
      ) || (parent !== undefined && hidden(parent, depth + 1)));
    known.set(mount, isHidden);
    return isHidden;
  };
  return (mount) => hidden(mount, 0);
}

/**
 * Refuses with `EBUSY` a regular file `file` at `s.final` that is a mount
 * point, before any temporary file exists. `directory` is the `stat` of its
 * directory if the caller made it. Where the mounts cannot be read (not
 * Linux, Deno without read access to `/proc`), it says nothing: the rename
 * will.
 */
export function* refuseMountPoint(
  s: Resolution,
  file: EntryInfo,
  directory?: EntryInfo | null,
): Steps<void> {
  if (directory === undefined) {
    const dir = yield* settle(request("stat", dirname(s.final)));
    directory = dir.ok ? dir.value : null;
  }
  if (directory === null) return;
  const name = basename(s.final);
  // This process's mounts where the devices differ (the rename tells of a
  // mount from the same file system), and, always, those of the process
  // whose mount namespace the path enters (`/proc/PID/root/…`): the kernel
  // refuses the rename only over a mount point of the caller's own
  // namespace, and would replace the name under another's, which loses that
  // mount whatever file system it comes from.
  const entered = enteredNamespace(s.target) ?? enteredNamespace(s.final);
  const pid = entered?.pid;
  const tables: [string, string][] = [];
  if (deviceOf(file) !== deviceOf(directory)) tables.push([MOUNTINFO, ""]);
  if (entered !== null) {
    // The thread's own table where the path goes through one's root: it
    // lists the mounts below that root, which may not be the process's.
    tables.push([`${entered.task}/mountinfo`, `${entered.task}/root`]);
  }
  for (const [table, root] of tables) {
    for (const point of pointsNamed((yield* mountTable(table)) ?? [], name)) {
      const parent = yield* settle(request("stat", root + dirname(point)));
      if (parent.ok && parent.value?.id === directory.id) {
        const reason = root === ""
          ? MOUNT_POINT_REASON
          : MOUNT_POINT_REASON.replace(
            "a mount point",
            `a mount point in the mount namespace of process ${pid}`,
          );
        throw problem(s, "EBUSY", "replace", s.final, reason);
      }
    }
  }
}

/**
 * Whether `path` goes into another process's mount namespace
 * (`/proc/PID/root/…`), where only {@linkcode refuseMountPoint}, before the
 * rename, keeps a file mounted there since from being replaced: the kernel
 * refuses the rename only over a mount point of the caller's namespace.
 */
export function entersNamespace(path: string): boolean {
  return enteredNamespace(path) !== null;
}

/**
 * The process whose root or current directory the path `path` goes through
 * (`/proc/PID/root/…`, `/proc/PID/cwd/…`, `/proc/PID/task/TID/root/…`: a
 * container's files, seen from the host), whose mounts may not be this
 * process's, and its /proc directory (the thread's, for a thread's root);
 * `null` for any other (a link to such a path, or a relative path from a
 * current directory inside one, is not recognised).
 */
function enteredNamespace(
  path: string,
): { pid: string; task: string } | null {
  const match = /^\/proc\/(\d+)\/(task\/\d+\/)?(?:root|cwd)(?:\/|$)/.exec(path);
  if (match === null) return null;
  const [, pid, task = ""] = match;
  return { pid, task: `/proc/${pid}/${task}`.replace(/\/$/, "") };
}
