/**
 * The new file's owner and permissions: the existing file's owner, access
 * ACL and permission bits, or the `mode` option, set explicitly; the bit
 * rules have names.
 */
import {
  type EntryInfo,
  NO_OWNER,
  type ProcessIds,
  UNKNOWN_OWNER,
} from "./runtime/types.ts";
import { type Request, request, settle, type Steps } from "./_steps.ts";
import {
  act,
  failure,
  named,
  problem,
  type Replacement,
} from "./_replacement.ts";
import { groupOfNewFile } from "./_new_file_group.ts";
import { givesAway, intoCloset } from "./_closet.ts";
import { codeOf } from "./_error_code.ts";

/**
 * `mode` with the group's bits cut down to everyone else's: for a file whose
 * group becomes the writer's, where the old group's members must get no more
 * than anyone.
 */
function capGroupToOther(mode: number): number {
  return mode & (~0o070 | ((mode & 0o007) << 3));
}

/**
 * The permission bits the new file ends with: the `mode` option, else the
 * existing file's bits (unless the compat option `keepMode` is off); `null`
 * for what a plain create gives (0o666 less the umask in force, applied by
 * the kernel, or what a directory's default ACL gives).
 */
export function wantedMode(
  s: Replacement,
  entry: EntryInfo | null,
): number | null {
  return s.options.mode ?? (s.options.keepMode ? entry?.mode : null) ?? null;
}

/**
 * Codes with which a chown the caller asked for (compat `owner`) may fail
 * without failing the write, as with `fs.chown` under write-file-atomic and
 * atomically: the file system has no owners (`ENOSYS`), or a non-root
 * process may not give files away (`EPERM`, `EINVAL`).
 */
function chownRefusalIsFine(code: string, ids: ProcessIds | null): boolean {
  if (code === "ENOSYS") return true;
  const root = ids !== null && ids.uid === 0;
  return !root && (code === "EPERM" || code === "EINVAL");
}

/**
 * Gives the temporary file the owner and group asked for, unless it has
 * them already (the group a set-group-ID directory gave it is not the
 * writer's).
 */
function* chownAsAsked(
  s: Replacement,
  owner: { uid: number; gid: number },
  mode: number | null,
): Steps<void> {
  const ids = s.host.ids;
  const made = yield* ownerOfNewFile(s, mode);
  if (owner.uid === made.uid && owner.gid === made.gid) return;
  const temp = s.temp as string;
  const result = yield* settle(
    request("chown", s.file, temp, owner.uid, owner.gid),
  );
  if (result.ok) noteGivenAway(s, made.uid, owner.uid);
  else if (!chownRefusalIsFine(codeOf(result.error), ids)) {
    throw failure(s, "chown", temp, result.error);
  }
}

/**
 * Notes that the temporary file, made by `made` (the writer, unless this
 * write gave it away before: `matchAgain`), is now `uid`'s, for
 * {@linkcode takeBack}.
 */
function noteGivenAway(s: Replacement, made: number, uid: number): void {
  const from = s.givenAway?.from ?? made;
  s.givenAway = from < 0 || uid === from
    ? null
    : { from, uid, takenBack: false };
}

/**
 * Takes back the temporary file that this write gave away, after a chmod or
 * an ACL write of it failed with `error`, where that is `EPERM`: a writer
 * with `CAP_CHOWN` but not `CAP_FOWNER` (root in a container started with
 * `--cap-drop FOWNER`, or whose capabilities are `drop: [ALL]` and `add:
 * [CHOWN]`; a service given `CAP_CHOWN` alone) may give a file away, but may
 * not change the bits or the ACL of a file that is not its own. The file
 * keeps the group it was given (the target's, or the one asked), so no one
 * gets more access than the target gives while the writer owns it; its ACL
 * and bits are then set as its owner, and {@linkcode giveAwayAgain} gives it
 * away again before the fsync (that chown clears only set-ID bits, which no
 * file taken back has: see {@linkcode chmodFailure}). Only that failure
 * costs the calls: a chown back, the call again, a chown away. Returns
 * whether the file was taken back.
 */
function* takeBack(s: Replacement, error: unknown): Steps<boolean> {
  const given = s.givenAway;
  if (given === null || given.takenBack || codeOf(error) !== "EPERM") {
    return false;
  }
  const temp = s.temp as string;
  const back = yield* settle(request("chown", s.file, temp, given.from, -1));
  given.takenBack = back.ok;
  return back.ok;
}

/** Runs `req`, a chmod or an ACL write that failed with `error`, again once the file is taken back ({@linkcode takeBack}); whether that was done. */
function* againAsOwner(
  s: Replacement,
  error: unknown,
  req: Request<void>,
): Steps<boolean> {
  if (!(yield* takeBack(s, error))) return false;
  return (yield* settle(req)).ok;
}

/**
 * Gives the temporary file that {@linkcode takeBack} took back to the owner
 * it was given, once its ACL and bits are set: last before the fsync.
 */
export function* giveAwayAgain(s: Replacement): Steps<void> {
  const given = s.givenAway;
  if (given === null || !given.takenBack) return;
  const temp = s.temp as string;
  yield* act(
    s,
    "chown",
    temp,
    request("chown", s.file, temp, given.uid, -1),
  );
  given.takenBack = false;
}

/**
 * Whether keeping a replaced file's owner and group (the default) needs the
 * directory's `stat`, made alongside the temporary file's creation: where
 * the runtime tells who runs it, for the group a new file gets there
 * (`ownerOfNewFile`).
 */
export function keepsOwner(s: Replacement): boolean {
  return s.options.owner === "target" && s.host.ids !== null;
}

/**
 * The owner and group the temporary file has: as created, the writer's
 * uid and the group `groupOfNewFile` tells; where that cannot be told (the
 * group depends on the mount), where the runtime will not say who runs it
 * (Deno without `--allow-sys`), or once it was given an owner already
 * (matched again after earlier writes: `matchAgain`), what its own `lstat`
 * says: one call more, so that the bits that must not outlive an owner or a
 * group are still known to be lost.
 */
function* ownerOfNewFile(
  s: Replacement,
  mode: number | null,
): Steps<{ uid: number; gid: number | null }> {
  const ids = s.host.ids;
  // A file that gets set-ID bits is looked at in any case: which owner and
  // group it has decides which of those bits it may keep.
  const gid = ids !== null && !s.rematching && !hasSetIdBits(mode)
    ? groupOfNewFile(s, ids)
    : null;
  if (ids !== null && gid !== null) return { uid: ids.uid, gid };
  const temp = s.temp as string;
  const made = yield* act(s, "lstat", temp, request("lstat", named(s, temp)));
  return { uid: made?.uid ?? UNKNOWN_OWNER, gid: made?.gid ?? null };
}

/**
 * Whether `id`, an owner or group of the existing file, is `made`'s, the
 * temporary file's: a known id and the same. One that shows only as the
 * placeholder 65534 (`UNKNOWN_OWNER`) is never the writer's: where the
 * runtime will not say who runs it and /proc cannot be read (Deno without
 * `--allow-sys` and `--allow-all`), a writer whose own files show 65534
 * cannot tell them from those of the users a user namespace does not map,
 * whose bits it must not keep.
 */
function isMadeId(id: number, made: number | null): boolean {
  return id >= 0 && id === made;
}

/**
 * `mode` for a file that could not be given its old owner or group: the
 * set-user-ID bit goes with the owner and the set-group-ID bit with the
 * group, as a `chown` clears them, and the group's bits are cut down to the
 * others' (the old group's members get no more than anyone).
 */
function withoutLostBits(
  mode: number,
  ownerKept: boolean,
  groupKept: boolean,
): number {
  let bits = mode;
  if (!ownerKept) bits &= ~SET_USER_ID;
  if (!groupKept) bits = capGroupToOther(bits) & ~SET_GROUP_ID;
  return bits;
}

/**
 * The codes of a `chown` that the process is not allowed to make, or that
 * the file system cannot: `EPERM` (not root, or root without `CAP_CHOWN`),
 * `EINVAL` (an id this user namespace does not map), `ENOSYS`, `ENOTSUP`,
 * `EOPNOTSUPP` (no owners there), `EACCES` (sshfs's word for the server's
 * refusal, to a user other than root there). Any other failure (`EIO`, `EDQUOT`: the
 * old owner's quota is full) fails the write, as a failed `chmod` does:
 * the file would otherwise go from its owner to the writer, with its
 * group's bits cut, while the write reports success.
 */
const NOT_ALLOWED = new Set([
  "EPERM",
  "EINVAL",
  "ENOSYS",
  "ENOTSUP",
  "EOPNOTSUPP",
  "EACCES",
]);

/**
 * Gives the temporary file `uid` and `gid` (`-1`: unchanged); whether it
 * has them, `false` where that is not allowed ({@linkcode NOT_ALLOWED}).
 */
function* chownWhereAllowed(
  s: Replacement,
  uid: number,
  gid: number,
): Steps<boolean> {
  const temp = s.temp as string;
  const done = yield* settle(request("chown", s.file, temp, uid, gid));
  if (done.ok) return true;
  if (NOT_ALLOWED.has(codeOf(done.error))) return false;
  throw failure(s, "chown", temp, done.error);
}

/**
 * Gives the temporary file the existing file's owner and group where
 * allowed; returns `mode` less what must not outlive an owner or a group
 * that could not be kept (`withoutLostBits`). The temporary file has the
 * writer's uid, and the group the kernel gave it (`_new_file_group.ts`):
 * the writer's, or a set-group-ID directory's; where the directory cannot
 * tell it, or the runtime will not say who runs it, the temporary file's
 * `lstat` tells. An owner or group that `stat` could not
 * name (`UNKNOWN_OWNER`: one this user namespace does not map) cannot be
 * kept.
 */
function* keepOwner(
  s: Replacement,
  entry: EntryInfo,
  mode: number | null,
): Steps<number | null> {
  if (entry.uid === NO_OWNER) return mode; // no owners here (Windows)
  const made = yield* ownerOfNewFile(s, mode);
  const uidKnown = entry.uid >= 0;
  const gidKnown = entry.gid >= 0;
  let ownerKept = isMadeId(entry.uid, made.uid);
  let groupKept = isMadeId(entry.gid, made.gid);
  if (ownerKept && groupKept) return mode;
  if (!ownerKept && uidKnown) {
    ownerKept = yield* chownWhereAllowed(
      s,
      entry.uid,
      gidKnown ? entry.gid : -1,
    );
    if (ownerKept) noteGivenAway(s, made.uid, entry.uid);
    groupKept ||= ownerKept && gidKnown;
  }
  // Not allowed to give the file away (not root): keep at least the group.
  if (!groupKept && gidKnown) {
    groupKept = yield* chownWhereAllowed(s, -1, entry.gid);
  }
  return s.options.mode === undefined && mode !== null
    ? withoutLostBits(mode, ownerKept, groupKept)
    : mode;
}

/**
 * Gives the temporary file the existing file's access ACL, or takes away
 * the one a directory's default ACL gave it where the existing file had
 * none: whoever could access the old file can access the new one, and no
 * one else. (`stat` shows only the ACL's mask, as the group's bits; the
 * named users and groups, and the owning group's own entry, are in the
 * ACL.) Where the runtime cannot see ACLs, nothing is done: see the README.
 */
function* keepAcl(s: Replacement, entry: EntryInfo): Steps<void> {
  const temp = s.temp as string;
  const acl = yield* act(
    s,
    "read ACL",
    s.final,
    request("readAcl", named(s, s.final)),
  );
  if (acl === undefined) return;
  const write = request("writeAcl", s.file, named(s, temp), acl);
  const set = yield* settle(write);
  if (
    !set.ok && !(yield* hasAclAlready(s, acl)) &&
    !(yield* againAsOwner(s, set.error, write))
  ) {
    throw failure(s, "set ACL", temp, set.error);
  }
  // The ACL set the bits: the owner's, the mask (as the group's), the others'.
  if (acl !== null) s.createdMode = entry.mode & 0o777;
}

/**
 * Whether the temporary file has the access ACL `acl` (`null`: none)
 * already, after setting it failed: a file system that shows every file
 * with one owner (exFAT or NTFS through FUSE) refuses to anyone else the
 * removal of an ACL that no file there has.
 */
function* hasAclAlready(
  s: Replacement,
  acl: Uint8Array | null,
): Steps<boolean> {
  const found = yield* settle(request("readAcl", named(s, s.temp as string)));
  if (!found.ok || found.value === undefined) return false;
  const has = found.value;
  return has === null || acl === null
    ? has === acl
    : has.length === acl.length && has.every((byte, i) => byte === acl[i]);
}

/** What a `chmod` fails with on a file system that keeps no modes (FAT through fusefat: `ENOSYS`). */
const NO_MODES = new Set(["ENOSYS", "ENOTSUP", "EOPNOTSUPP"]);

/**
 * The error to throw for a chmod of the temporary file to `mode` that
 * failed with `error`, or `null` where nothing is lost by it, or it was done
 * after all.
 *
 * Nothing is lost in the case of a FUSE file system that shows every file
 * with its mount's one owner and mode: it keeps no modes (FAT through
 * fusefat: `ENOSYS`), or refuses a chmod to anyone but that owner (exFAT or
 * NTFS, to a user who is not: `EPERM`), and shows the new file as the old
 * one, as a plain create and rename would leave it. A `stat`, made only
 * then, must show the new file with the bits asked, and with the old file's
 * owner and group (or those asked); for `EPERM`, as another user's than the
 * writer's, as such a mount shows its own new file.
 *
 * It is done after all where this write gave the file away and may not
 * chmod another's file (`EPERM`, without `CAP_FOWNER`): as its owner again
 * ({@linkcode takeBack}). Not with set-ID bits, which the chown that gives
 * it away again would clear: the write fails with `EPERM`, saying why.
 *
 * Anything else is the chmod's failure: a refused `chown` that cut the bits
 * to the very ones the file was made with, a mount that refuses root
 * (bindfs `--chmod-deny`), a runtime's permissions (`EACCES`).
 */
export function* chmodFailure(
  s: Replacement,
  mode: number,
  error: unknown,
): Steps<unknown> {
  const temp = s.temp as string;
  const code = codeOf(error);
  if (NO_MODES.has(code) || code === "EPERM") {
    const found = yield* settle(request("stat", named(s, temp)));
    const shown = found.ok ? found.value : null;
    if (
      shown !== null && shown.mode === (mode & 0o7777) &&
      showsOwnerAsked(s, shown) &&
      (code !== "EPERM" || showsAnotherOwner(s, shown))
    ) {
      return null;
    }
  }
  if (code === "EPERM" && s.givenAway?.takenBack === false) {
    if (hasSetIdBits(mode)) {
      return problem(s, code, "chmod", temp, SET_ID_GIVEN_AWAY, error);
    }
    const chmod = request("chmod", s.file, temp, mode);
    if (yield* againAsOwner(s, error, chmod)) return null;
  }
  return failure(s, "chmod", temp, error);
}

/** Why a file with set-ID bits cannot be given away by a writer without `CAP_FOWNER`. */
const SET_ID_GIVEN_AWAY =
  "a file given to another user can get set-user-ID and set-group-ID bits only from a writer with CAP_FOWNER, which this one lacks; a chown after them would clear them";

/** Whether the new file, as `shown`, has the owner and group it was to get: the old file's (by default), or those asked. */
function showsOwnerAsked(s: Replacement, shown: EntryInfo): boolean {
  const owner = s.options.owner;
  const asked = typeof owner === "object"
    ? owner
    : owner === "target"
    ? s.matched
    : null;
  return asked === null || (shown.uid === asked.uid && shown.gid === asked.gid);
}

/** Whether the new file, as `shown`, shows as another user's than the writer's (who made it). */
function showsAnotherOwner(s: Replacement, shown: EntryInfo): boolean {
  const ids = s.host.ids;
  return ids !== null && shown.uid !== ids.uid;
}

/** Sets the temporary file's bits to `mode` with `chmod`, which {@linkcode chmodFailure} judges if it fails. */
export function* chmodTemp(
  s: Replacement,
  chmod: Request<void>,
  mode: number,
): Steps<void> {
  const done = yield* settle(chmod);
  if (done.ok) return;
  const error = yield* chmodFailure(s, mode, done.error);
  if (error !== null) throw error;
}

/**
 * Gives the temporary file its owner (the existing file's where allowed,
 * unless the compat option `owner` says otherwise), the existing file's
 * access ACL, and the permission bits `wanted`, set explicitly: whatever
 * the umask is now, and whatever a directory's default ACL gave the fresh
 * file. With an ACL, the group's bits set its mask, as `chmod` does.
 *
 * A file that gets set-ID bits is given its owner only after its content,
 * just before those bits (`giveOwnerLate`, from the fsync's step): given
 * away first, its new owner could open it while it is written (it is theirs,
 * and owner-only), and write to it through a shared mapping, which keeps
 * the bits, once they are set; root's replacement of another user's
 * set-group-ID program would then run that user's code with a group they
 * are not in. Where it goes to another owner than the writer, it is moved
 * into a closet first, where its new owner cannot reach it (`_closet.ts`).
 *
 * A writer that may give files away but not change another's (`CAP_CHOWN`
 * without `CAP_FOWNER`) takes the file back for its ACL and bits where
 * their setting fails so, and gives it away again before the fsync
 * (`takeBack`); the usual steps stay as they are.
 */
export function* matchOwnerAndMode(
  s: Replacement,
  entry: EntryInfo | null,
  wanted: number | null,
): Steps<void> {
  // A file with set-ID bits gets its owner, and those bits, only after its
  // content (`giveOwnerLate`); any other, its owner now.
  const late = hasSetIdBits(wanted);
  if (late) s.ownerLater = { entry };
  const mode = late ? wanted : yield* giveOwner(s, entry, wanted);
  if (entry !== null && wanted !== null) yield* keepAcl(s, entry);
  if (mode === null) return;
  // After the chown, which clears set-user-ID and set-group-ID. A chmod
  // that only widens may wait for the first write and run alongside it;
  // one that narrows (the old file's ACL made the file wider) runs now.
  const bits = late ? mode & 0o777 : mode;
  const widens = onlyWidens(s.createdMode, bits);
  if (!widens) {
    yield* chmodTemp(s, request("chmod", s.file, s.temp as string, bits), bits);
  }
  if (widens || late) s.pendingMode = mode;
}

/**
 * Gives the temporary file its owner: the one the compat option `owner`
 * asks for, or by default the existing file's where allowed. Returns
 * `wanted` less the bits that must not outlive an owner or a group that
 * could not be kept.
 */
function* giveOwner(
  s: Replacement,
  entry: EntryInfo | null,
  wanted: number | null,
): Steps<number | null> {
  const owner = s.options.owner;
  if (typeof owner === "object") yield* chownAsAsked(s, owner, wanted);
  else if (owner === "target" && entry !== null) {
    return yield* keepOwner(s, entry, wanted);
  }
  return wanted;
}

/**
 * Gives a file with set-ID bits its owner, which `matchOwnerAndMode` left
 * for after the content: right before the chmod that sets the bits still
 * pending (what the owner allows of them), with nothing in between.
 */
export function* giveOwnerLate(s: Replacement): Steps<void> {
  const later = s.ownerLater;
  if (later === null) return;
  s.ownerLater = null;
  if (s.closet === null && givesAway(s, later.entry)) yield* intoCloset(s);
  s.pendingMode = yield* giveOwner(s, later.entry, s.pendingMode);
}

/**
 * Set-user-ID and set-group-ID, which the kernel clears from a file that a
 * process without `CAP_FSETID` (any but root) writes to, or gives away: a
 * mode with them is set after the chown, and again after the last write.
 */
const SET_USER_ID = 0o4000;
const SET_GROUP_ID = 0o2000;
const SET_ID_BITS = SET_USER_ID | SET_GROUP_ID;

function hasSetIdBits(mode: number | null): boolean {
  return mode !== null && (mode & SET_ID_BITS) !== 0;
}

/**
 * Whether giving `mode` to a file created with `created` (less the umask,
 * or as a directory's default ACL allows) grants group and others only
 * more: the file is then never wider before the chmod than after it, and
 * the chmod need not come before the content.
 */
function onlyWidens(created: number, mode: number): boolean {
  return (created & ~mode & 0o077) === 0;
}

/**
 * The request that sets the permission bits still pending, if any, which
 * are then no longer pending: the caller runs it (before `fsync`, or
 * alongside the first write: `beforeWrite`, which leaves bits that a write
 * would clear pending until the content is written).
 */
export function takePendingMode(
  s: Replacement,
  beforeWrite = false,
): Request<void> | null {
  const mode = s.pendingMode;
  if (mode === null || (beforeWrite && hasSetIdBits(mode))) return null;
  s.pendingMode = null;
  return request("chmod", s.file, s.temp as string, mode);
}
