/**
 * Shared sticky directories (`/tmp`): the kernel's `fs.protected_symlinks`
 * and `fs.protected_regular` guard a plain `open(2)`; the library follows
 * links and keeps owners itself, so it applies the same rules in user space.
 */
import { dirname } from "node:path";
import type { AtomicWriteError } from "./atomic_write_error.ts";
import { type EntryInfo, NO_OWNER, type ProcessIds } from "./runtime/types.ts";
import { request, type Steps } from "./_steps.ts";
import { act, problem, type Resolution } from "./_replacement.ts";

/** The sticky bit of a directory's mode: only owners may remove its entries. */
export const STICKY = 0o1000;

/** Whether `dir` is sticky and writable by everyone (`/tmp`), or by its group when `groupToo`. */
export function isSharedSticky(
  dir: EntryInfo,
  groupToo: boolean,
): boolean {
  if ((dir.mode & STICKY) === 0) return false;
  return (dir.mode & 0o002) !== 0 || (groupToo && (dir.mode & 0o020) !== 0);
}

/** How the shared sticky directory `dir` is shared, for a message. */
function sharedAs(dir: EntryInfo): string {
  return (dir.mode & 0o002) !== 0
    ? "a sticky world-writable directory"
    : "a sticky group-writable directory";
}

/**
 * Whether the kernel's sticky-directory rules let the writer trust an entry
 * owned by `uid` in `dir`: the writer or the directory's owner made it. An
 * unknown writer (the runtime would not say) is trusted only where the
 * directory's owner made the entry.
 */
function isTrustedOwner(s: Resolution, uid: number, dir: EntryInfo): boolean {
  if (uid < 0) return false; // unknown: one this user namespace does not map
  return uid === dir.uid || (s.host.ids !== null && uid === s.host.ids.uid);
}

/** Who owns an entry that is not the writer's, for a message. */
export function anotherUser(uid: number): string {
  return uid < 0
    ? "a user whose uid this process cannot tell (shown as 65534: in a user namespace, any user it does not map; anyone, where /proc/self/uid_map cannot be read, as by Deno without --allow-all)"
    : `another user (uid ${uid})`;
}

/** The directory holding `path`, described (following links). */
function* parentOf(s: Resolution, path: string): Steps<EntryInfo | null> {
  const dir = dirname(path);
  return yield* act(s, "stat", dir, request("stat", dir));
}

/**
 * Who owns an entry the writer may not trust, for a message: another user,
 * or, where the runtime will not say who runs it (`ids` is `null`), a user
 * who may be the writer itself.
 */
export function untrustedOwner(uid: number, ids: ProcessIds | null): string {
  return ids === null && uid >= 0
    ? `uid ${uid}, not the directory's owner; this process's own uid is unknown (the runtime would not tell: Deno tells it with --allow-sys=uid,gid),`
    : anotherUser(uid);
}

/**
 * The refusal the kernel gives in a shared sticky directory, under the
 * sysctl `sysctl` at `level` (`null`: it cannot be read, and counts as on).
 */
function stickyRefusal(
  s: Resolution,
  path: string,
  what: string,
  planted: Planted,
  sysctl: string,
  level: number | null,
): AtomicWriteError {
  const kernel = planted.uid < 0
    ? `an owner that cannot be told counts as another user, whom the kernel refuses (${sysctl}${
      level === null ? ", which cannot be read here and counts as on" : ""
    }); the kernel itself sees the real owner`
    : level === null
    ? `as the kernel does where ${sysctl} is on (it cannot be read here, and counts as on)`
    : `the kernel refuses this too (${sysctl})`;
  return problem(
    s,
    "EACCES",
    "replace",
    path,
    `${what} belongs to ${
      untrustedOwner(planted.uid, s.host.ids)
    } in ${planted.shared}; ${kernel}`,
  );
}

/**
 * `fs.protected_symlinks`, in user space: a link in a shared sticky
 * directory (`/tmp`) is followed only if the writer or the directory's owner
 * made it, else another user could aim the write at any file.
 */
export function* checkStickyLink(s: Resolution, link: EntryInfo): Steps<void> {
  if (s.host.ids !== null && link.uid === s.host.ids.uid) return;
  const dir = yield* parentOf(s, s.final);
  if (dir === null || !isSharedSticky(dir, false)) return;
  if (isTrustedOwner(s, link.uid, dir)) return;
  const level = s.host.protections().symlinks;
  if (level === 0) return;
  throw stickyRefusal(
    s,
    s.final,
    "the symbolic link",
    { uid: link.uid, shared: sharedAs(dir) },
    "fs.protected_symlinks",
    level,
  );
}

/**
 * `fs.protected_regular`, in user space: in a shared sticky directory, a file
 * that another user made is neither replaced nor given the writer's data
 * with that user as owner (they could have made it world-writable first).
 */
export function* checkStickyOwner(
  s: Resolution,
  file: Owned,
): Steps<void> {
  const planted = yield* plantedBy(s, s.final, file);
  if (planted === null) return;
  const level = s.host.protections().regular;
  throw stickyRefusal(
    s,
    s.final,
    "the file",
    planted,
    "fs.protected_regular",
    level,
  );
}

/** What tells who made a file: its `lstat`, or what a read of it saw (`FileContent`). */
export type Owned = Pick<EntryInfo, "uid">;

/** Another user's file in a shared sticky directory: who made it, and how the directory is shared. */
export interface Planted {
  readonly uid: number;
  /** The directory, for a message: "a sticky world-writable directory" (or group-writable: `fs.protected_regular=2`). */
  readonly shared: string;
}

/**
 * The other user who made the regular file `file` at `path`, where
 * `fs.protected_regular` (at its level) would keep the writer from opening
 * it: in a shared sticky directory, neither the writer nor the directory's
 * owner. `null` if the writer may trust it.
 */
export function* plantedBy(
  s: Resolution,
  path: string,
  file: Owned,
): Steps<Planted | null> {
  if (file.uid === NO_OWNER) return null; // no owners on this platform
  if (s.host.ids !== null && file.uid === s.host.ids.uid) return null;
  const dir = yield* parentOf(s, path);
  if (dir === null || isTrustedOwner(s, file.uid, dir)) return null;
  // Unreadable, it counts as on at its strictest: group-writable too.
  const level = s.host.protections().regular ?? 2;
  if (level === 0 || !isSharedSticky(dir, level >= 2)) return null;
  return { uid: file.uid, shared: sharedAs(dir) };
}
