/**
 * The atomic-replace algorithm, written once. Each phase is a generator of
 * adapter requests (see `_steps.ts`), driven by `runSync` for the
 * synchronous API and by `runAsync` for the asynchronous one:
 *
 * 1. {@linkcode prepare}: resolve the target as the kernel would
 *    (`_resolve_target.ts`, with the `/tmp` rules of `_sticky.ts`), hold
 *    its directory open where another user's file or root's write needs it
 *    (`mustHold`: every later step then names its entry through it, see
 *    `named`), create a fresh temporary file beside it, exclusively, then
 *    match the existing file's owner and permission bits
 *    (`_owner_and_mode.ts`);
 * 2. {@linkcode writeAll}: write every byte, at most 1 GiB per call (short
 *    writes are resumed);
 * 3. {@linkcode seal}: fsync, close; then {@linkcode publish}: rename (or
 *    link, to create only if absent), fsync the directory. Between the two,
 *    the asynchronous API waits for earlier writes to the same path
 *    (`_async_phases.ts`);
 * 4. {@linkcode discard} on any failure or abort: close and remove the
 *    temporary file, and let go of the directory held; the target is never
 *    touched before the rename.
 *
 * The state they share, and how failures become errors, is in
 * `_replacement.ts`.
 */
import { basename, dirname } from "node:path";
import { AtomicWriteError } from "./atomic_write_error.ts";
import type { DirectoryHandle, EntryInfo, OpenFile } from "./runtime/types.ts";
import {
  all,
  both,
  perform,
  type Request,
  request,
  settle,
  type Settled,
  type Steps,
} from "./_steps.ts";
import { tempName } from "./_temp_name.ts";
import {
  act,
  discard,
  failure,
  FRESH_LOOK_MS,
  inDirectory,
  leaveCloset,
  named,
  orDiscard,
  problem,
  release,
  removeTemp,
  type Replacement,
  RETRY_DELAYS_MS,
} from "./_replacement.ts";
import { openToHold } from "./_open_directory.ts";
import { nameTaken } from "./_name_taken.ts";
import { checkNotDetached } from "./_validate.ts";
import { resolveTarget } from "./_resolve_target.ts";
import { entersNamespace, MOUNT_POINT_REASON } from "./_mount_point.ts";
import { checkStickyOwner } from "./_sticky.ts";
import {
  chmodFailure,
  chmodTemp,
  giveAwayAgain,
  giveOwnerLate,
  keepsOwner,
  matchOwnerAndMode,
  takePendingMode,
  wantedMode,
} from "./_owner_and_mode.ts";
import { codeOf } from "./_error_code.ts";
import { monotonic } from "./_clock.ts";
import { givesAway } from "./_closet.ts";

export type { Host, Replacement } from "./_replacement.ts";
export { discard, orDiscard } from "./_replacement.ts";

const MAX_NAME_ATTEMPTS = 16;

/**
 * How many times in all the target is looked up, when the directory held
 * open shows another file than the lookup by path found (only a rename or
 * a link swapped in meanwhile does that): the first lookup and two more.
 */
const MAX_LOOKUPS = 3;

/** The create mode of a file whose bits will be set: nobody but the writer, until its owner and bits are matched. */
const OWNER_ONLY = 0o600;

/**
 * The most bytes one write call is given: Node and Bun refuse a buffer of
 * 2 GiB or more (`ERR_OUT_OF_RANGE`) where Deno takes it, and Linux writes
 * at most 2 GiB less 4 KiB per call anyway. 1 GiB keeps every runtime alike.
 */
const MAX_WRITE_BYTES = 1 << 30;

/**
 * How long a write must have taken before `seal` asks the descriptor where
 * the temporary file is (one readlink), in case a directory above it was
 * renamed meanwhile and the rename fails: after the close, nothing knows.
 * Shorter writes skip the call; a rename in their window leaves a temporary
 * file that `removeStaleTemps` sweeps once the process is gone.
 */
const LOCATE_AFTER_MS = 1000;

/**
 * Makes the temporary file: resolve the target, create the temporary file
 * beside it (never wider than the result will be), then match the existing
 * file's owner and permission bits. A failure after the create removes it.
 * A target that was a plain file last time takes the fast path instead.
 */
export function* prepare(s: Replacement): Steps<void> {
  s.options.signal?.throwIfAborted();
  const entry = yield* orDiscard(s, findAndCreate(s));
  // The fast path takes no other user's file for a writer that holds the
  // directory only for such files (see `mustHold`): it would look twice.
  s.knownFiles.note(
    s.target,
    entry?.kind === "file" && s.final === s.target &&
      (s.held === null || holdsFirst(s)),
  );
  yield* orDiscard(s, finishTemp(s, entry, wantedMode(s, entry)));
}

/** The target's entry, and the temporary file created beside it: the fast path if it holds, else the ordered steps. */
function* findAndCreate(s: Replacement): Steps<EntryInfo | null> {
  return (yield* createWhileLooking(s)) ?? (yield* resolveAndCreate(s));
}

/**
 * Whether `s.final`, which the path leads to now, is the file `locked`
 * spelled otherwise (`data/../data/f`, or through a link to its directory):
 * the same name in the same directory, the one the lock holds if any.
 */
function* namesLocked(s: Replacement, locked: string): Steps<boolean> {
  if (basename(s.final) !== basename(locked)) return false;
  const [here, there] = yield* both(
    request("stat", dirname(s.final)),
    request("stat", s.pinned?.path ?? dirname(locked)),
  );
  return here.ok && there.ok && here.value !== null &&
    here.value.id === there.value?.id;
}

/**
 * Holds the target's directory open (`s.held`), where the runtime can name
 * files through it; a directory this user may write but not read (a drop
 * box, mode 0733) cannot be opened, and its files are named by path. A
 * missing one is made first with the `mkdir` option.
 */
function* hold(s: Replacement): Steps<void> {
  if (s.pinned !== null) {
    // An update's: its lock's directory, which it uses until it is done.
    s.held = s.pinned;
    s.shared = false;
    s.directories.keep(s.held);
    return;
  }
  const dir = dirname(s.final);
  const shared = s.directories.share(dir);
  s.shared = shared !== undefined;
  if (shared !== undefined) {
    s.held = shared;
    return;
  }
  s.held = yield* openToHold(
    dir,
    s.options.mkdir
      ? () => act(s, "create directory", dir, request("mkdir", dir))
      : undefined,
    // The first step of making the temporary file, and reported as such.
    (error) => failure(s, "create temporary file", dir, error),
  );
  if (s.held !== null) s.directories.opened(dir, s.held);
}

/**
 * Whether the target's directory is held open for this write (see
 * {@linkcode named}): where its steps give the new file what they found on
 * another user's file (owner, group, bits, ACL), which a directory above
 * the target swapped for a link would carry to a file elsewhere; and always
 * for root, who may write where that user cannot, or an unknown writer. A
 * writer that creates a file, or replaces one of its own, names its files
 * by path, as a plain write does: nothing of another user's goes anywhere.
 */
function mustHold(s: Replacement, entry: EntryInfo | null): boolean {
  if (s.pinned !== null) return true;
  return entry !== null && (holdsFirst(s) || entry.uid !== s.host.ids?.uid);
}

/** Whether the writer holds the directory of every file it replaces (root, or unknown, or an update's lock), so before it looks. */
function holdsFirst(s: Replacement): boolean {
  const ids = s.host.ids;
  return s.pinned !== null || ids === null || ids.uid === 0;
}

/** The path of the target's directory, through the directory held open if any. */
function directoryPath(s: Replacement): string {
  return s.held?.path ?? dirname(s.final);
}

/**
 * Whether `found`, looked at through the directory held, may stand for
 * `entry`, which the lookup by path found: both missing, or both regular
 * files (a file created owner-only for one stays so for the other).
 */
function sameKind(entry: EntryInfo | null, found: EntryInfo | null): boolean {
  if (entry === null || found === null) return entry === found;
  return entry.kind === "file" && found.kind === "file";
}

/** Whether `a` and `b` (either may be missing) are the same entry: both missing, or the same file of the same kind. */
function sameEntry(a: EntryInfo | null, b: EntryInfo | null): boolean {
  if (a === null || b === null) return a === b;
  return a.id === b.id && a.kind === b.kind;
}

/**
 * The ordered steps: find the target, then create the temporary file beside
 * it. A file whose bits will be set is created owner-only, as on the fast
 * path: it is made with the writer's group (or the directory's), and only
 * its chown gives it the old file's, so bits for the group before then
 * would let the wrong group open it and read the new content as it comes.
 */
function* resolveAndCreate(
  s: Replacement,
  lookup = 1,
): Steps<EntryInfo | null> {
  s.directory = undefined; // a failed guess's, of the path as named
  s.final = s.target;
  const entry = yield* resolveTarget(
    s,
    undefined,
    s.options.overwrite ? "replace" : "create",
  );
  if (s.locked !== undefined && s.final !== s.locked) {
    if (!(yield* namesLocked(s, s.locked))) {
      throw problem(
        s,
        "EAGAIN",
        "replace",
        s.final,
        `the path leads to another file than the one locked, "${s.locked}" (a link changed since the lock was taken?)`,
      );
    }
    s.final = s.locked; // the same, spelled as the lock has it
  }
  if (mustHold(s, entry)) yield* hold(s);
  // Through the directory held open, the directory's stat and the target's
  // lstat are made again beside the create: what the rest acts on.
  const lookAtDirectory = entry !== null && keepsOwner(s) &&
    (s.directory === undefined || s.held !== null);
  const { target, stillHeld } = yield* createTemp(
    s,
    wantedMode(s, entry) === null ? 0o666 : OWNER_ONLY,
    lookAtDirectory,
    s.held !== null,
  );
  if (target !== undefined && !target.ok) {
    throw failure(s, "stat", s.final, target.error);
  }
  const found = target === undefined ? entry : target.value;
  if (stillHeld && sameEntry(entry, found)) return entry;
  if (stillHeld && sameKind(entry, found)) {
    // Another regular file than the lookup found is another writer's
    // replacement, renamed meanwhile: what this write replaces, and keeps
    // the owner and bits of, is the file in the directory held.
    if (found !== null && s.options.overwrite) {
      yield* checkStickyOwner(s, found);
    }
    return found;
  }
  // A link or a directory where the lookup found a file (or the reverse),
  // or a directory held that its path no longer leads to: something was
  // swapped in on the way meanwhile. The lookup starts again, in full.
  yield* discard(s);
  if (lookup >= MAX_LOOKUPS) {
    throw problem(
      s,
      "EAGAIN",
      "replace",
      s.final,
      "the path kept leading to another file while it was looked up (a link or a directory swapped in on the way?)",
    );
  }
  return yield* resolveAndCreate(s, lookup + 1);
}

/**
 * The fast path, for a target that was a regular file (not a link) the last
 * time this process replaced it, and whose bits are kept: the temporary
 * file is created while the target is looked up, one round trip instead of
 * two. Measured side by side against the ordered steps alone (`bench/ab.ts`
 * against `b2e2d63`, a 1 KiB overwrite with `fsync: false`, together with
 * the chmod beside the first write): 9 to 16 % less time on Node, Deno and
 * Bun. The file is created owner-only, so the bits matched afterwards
 * only widen it. Returns the target's entry if the guess held; otherwise
 * removes what it created and returns `undefined`, and the ordered steps
 * run from the start.
 */
function* createWhileLooking(s: Replacement): Steps<EntryInfo | undefined> {
  const keepsBits = s.options.mode !== undefined || s.options.keepMode;
  if (!keepsBits || !s.knownFiles.has(s.target)) return undefined;
  // A file mounted there since it was known would go unseen: the ordered
  // steps look for mount points (`refuseMountPoint`).
  if (entersNamespace(s.target)) return undefined;
  // An update whose lock found another file than its path names (a link).
  if (s.locked !== undefined && s.locked !== s.target) return undefined;
  const first = holdsFirst(s);
  if (first) {
    try {
      yield* hold(s);
    } catch {
      return undefined; // the ordered steps meet it again, and report it
    }
  }
  const path = nextTempPath(s);
  const { made, target, stillHeld } = yield* createLooking(
    s,
    request("createExclusive", named(s, path), OWNER_ONLY),
    true,
    keepsOwner(s),
  );
  if (!made.ok) {
    forgetTemp(s, path);
    yield* release(s);
    return undefined;
  }
  s.file = made.value;
  s.createdMode = OWNER_ONLY;
  const looked = target as Settled<EntryInfo | null>;
  // Another user's file, found by path: the ordered steps hold the directory.
  const heldAsNeeded = first || (looked.ok && !mustHold(s, looked.value));
  if (stillHeld && heldAsNeeded && looked.ok && looked.value?.kind === "file") {
    // A create-only-if-absent replaces nothing: its link says EEXIST.
    if (s.options.overwrite) {
      yield* orDiscard(s, checkStickyOwner(s, looked.value));
    }
    return looked.value;
  }
  yield* discard(s);
  return undefined;
}

/** The last steps of `prepare`, which discard the temporary file if they fail. */
function* finishTemp(
  s: Replacement,
  entry: EntryInfo | null,
  wanted: number | null,
): Steps<void> {
  s.matched = entry;
  yield* matchOwnerAndMode(s, entry, wanted);
  // An abort during the steps above fired its event before anyone listened.
  s.options.signal?.throwIfAborted();
}

/**
 * Writes all of `bytes` to the temporary file in calls of at most
 * {@linkcode MAX_WRITE_BYTES}, resuming after short writes; a buffer
 * detached before its last write is a TypeError (the file is discarded).
 */
export function* writeAll(s: Replacement, bytes: Uint8Array): Steps<void> {
  // A buffer detached (transferred) since the call reads as empty: it is
  // refused before each write, its length taken before the first.
  checkNotDetached(bytes.buffer);
  const length = bytes.length;
  let offset = 0;
  while (offset < length) {
    s.options.signal?.throwIfAborted();
    checkNotDetached(bytes.buffer);
    const rest = offset === 0 && bytes.length <= MAX_WRITE_BYTES
      ? bytes
      : bytes.subarray(offset, offset + MAX_WRITE_BYTES);
    const written = yield* writeChunk(s, rest);
    if (written <= 0) {
      throw problem(s, "EIO", "write", s.temp as string, "no bytes written");
    }
    offset += written;
  }
}

/**
 * Writes `chunk` once, returning how many bytes the call took. The first
 * write runs alongside the chmod still pending (see `matchOwnerAndMode`):
 * one round trip instead of two for an asynchronous overwrite; a failed
 * chmod is reported first, as if it had run before.
 */
function* writeChunk(s: Replacement, chunk: Uint8Array): Steps<number> {
  const temp = s.temp as string;
  const write = request("write", s.file, chunk);
  const mode = s.pendingMode as number;
  const chmod = takePendingMode(s, true);
  if (chmod === null) return yield* act(s, "write", temp, write);
  const [moded, wrote] = yield* both(chmod, write);
  if (!moded.ok) {
    const error = yield* chmodFailure(s, mode, moded.error);
    if (error !== null) throw error;
  }
  if (!wrote.ok) throw failure(s, "write", temp, wrote.error);
  return wrote.value;
}

/** Makes the new content durable and the file ready to rename: fsync, close. */
export function* seal(s: Replacement): Steps<void> {
  yield* syncTemp(s);
  yield* closeTemp(s);
}

/** The first half of `seal`: the bits still pending, the owner given again if taken back for them, then the fsync. */
export function* syncTemp(s: Replacement): Steps<void> {
  const temp = s.temp as string;
  s.options.signal?.throwIfAborted();
  yield* giveOwnerLate(s);
  // What no write took: the content is empty, or the bits would not survive it.
  const mode = s.pendingMode as number;
  const chmod = takePendingMode(s);
  if (chmod !== null) yield* chmodTemp(s, chmod, mode);
  yield* giveAwayAgain(s);
  if (s.options.fsync) yield* syncLooking(s, temp);
}

/** The second half of `seal`: the close (located first, if it took long). */
export function* closeTemp(s: Replacement): Steps<void> {
  const temp = s.temp as string;
  if (s.held === null && monotonic() - s.tempSince >= LOCATE_AFTER_MS) {
    const found = yield* settle(request("locate", s.file));
    s.located = found.ok ? found.value : null;
  }
  const file = s.file;
  s.file = null;
  yield* act(s, "close", temp, request("close", file));
}

/**
 * {@linkcode seal}, for a write that waits for its turn with its file
 * closed (see `_async_phases.ts`): notes first which file it is (its
 * `fstat`), so that {@linkcode matchAgainClosed} acts on that file or on
 * none. One call more, made while the earlier writes are still on their way.
 */
export function* sealToWait(s: Replacement): Steps<void> {
  yield* syncTemp(s);
  const temp = s.temp as string;
  s.tempId = yield* act(s, "stat", temp, request("identify", s.file));
  yield* closeTemp(s);
}

/**
 * For a write that waited for earlier writes of this process to the same
 * file, once they have renamed (its file still open): what it keeps of the
 * file (owner, group, bits, ACL) is what they left, not what was there when
 * it was called. Where that differs from what was matched, it is matched
 * again, and made durable again; a file that is no longer a regular file
 * (another process's doing) is left for the rename to meet, and one that
 * another user made in a shared sticky directory is refused, as the
 * lookup refuses it (`checkStickyOwner`).
 */
export function* matchAgain(s: Replacement): Steps<void> {
  const entry = yield* changedSinceMatched(s);
  if (entry !== undefined) yield* rematch(s, entry);
}

/**
 * {@linkcode matchAgain}, for a write whose temporary file was closed while
 * it waited (beyond the writes that may wait with theirs open: see
 * `_async_phases.ts`): the file is opened again (never through a link) only
 * where there is something to match, then closed again. It is opened for
 * writing only if its bits let its owner write it: a writer other than root
 * may not open a read-only file of its own for writing, and needs only read
 * access for what is done to it (see `reopen`). It must be the file the
 * write made (see {@linkcode reopenOwn}).
 */
export function* matchAgainClosed(s: Replacement): Steps<void> {
  const entry = yield* changedSinceMatched(s);
  if (entry === undefined) return;
  const temp = s.temp as string;
  const own = yield* act(s, "lstat", temp, request("lstat", named(s, temp)));
  const write = own === null || (own.mode & OWNER_WRITES) !== 0;
  yield* reopenOwn(s, write);
  yield* rematch(s, entry);
  yield* closeTemp(s);
}

/**
 * Opens the temporary file again by its name, and checks that the file
 * opened is the one the write made (`tempId`): someone who may write the
 * directory can rename that file away and put another at its name while
 * it is closed (a hard link of root's `0600` file, or that file itself),
 * which the chown and chmod that follow would give the target's owner and
 * bits, and the rename would put in the target's place. Such a file is
 * closed and left as it is, under that name, never removed nor renamed
 * (nor removed at exit): the write fails with `EAGAIN`, the target as the
 * earlier writes left it. Its own file, moved away, has a name the write
 * does not know, and is left there too.
 */
function* reopenOwn(s: Replacement, write: boolean): Steps<void> {
  const temp = s.temp as string;
  const file = yield* act(
    s,
    "open",
    temp,
    request("reopen", named(s, temp), write),
  );
  const opened = yield* settle(request("identify", file));
  if (opened.ok && opened.value === s.tempId) {
    s.file = file;
    return;
  }
  yield* settle(request("close", file));
  s.temp = null;
  s.inFlight.delete(temp);
  if (!opened.ok) throw failure(s, "stat", temp, opened.error);
  throw problem(
    s,
    "EAGAIN",
    "open",
    temp,
    "another file was put at the temporary file's name while it was closed (by someone who may write the directory); that file is left as it was",
  );
}

/** The permission bit that lets a file's owner write it. */
const OWNER_WRITES = 0o200;

/**
 * Whether a write's temporary file, once closed, can be opened again
 * ({@linkcode matchAgainClosed}): by its owner, if its bits let the owner
 * read or write it and the writer is still its owner (root gives its file
 * away to keep another user's owner, where its `chown` is allowed); else
 * only by a process
 * that may open any file (`CAP_DAC_OVERRIDE`: root, unless it was dropped,
 * as a container or a systemd unit may). A file the writer could not open
 * again stays open while it waits: a descriptor per write of such a burst.
 * The capability is read from /proc afresh for each such write past the
 * cap (20 to 70 µs, measured on a loaded machine), as a process may drop
 * it while it runs.
 *
 * @example Usage
 * ```ts ignore
 * const keepOpen = waiting < OPEN_WHILE_WAITING || !canReopen(s);
 * ```
 */
export function canReopen(s: Replacement): boolean {
  const bits = wantedMode(s, s.matched);
  const ownerMayOpen = bits === null || (bits & 0o600) !== 0;
  // Given away already, or to be once its content is in (set-ID bits:
  // `giveOwnerLate`, in the fsync's step, after this question).
  const later = s.ownerLater;
  const stillOwn = s.givenAway === null &&
    !(later !== null && givesAway(s, later.entry));
  return (ownerMayOpen && stillOwn) || s.host.overridesPermissions();
}

/**
 * The file at the target's name now, if its owner, group or bits are not
 * what the write matched (`undefined` if they are, or if it is no longer a
 * regular file: that one is left for the rename to meet).
 */
function* changedSinceMatched(
  s: Replacement,
): Steps<EntryInfo | null | undefined> {
  const entry = yield* act(
    s,
    "lstat",
    s.final,
    request("lstat", named(s, s.final)),
  );
  if (entry !== null && entry.kind !== "file") return undefined;
  if (sameOwnerAndBits(entry, s.matched)) return undefined;
  // A file put at the name meanwhile (an earlier write failed) by another
  // user in `/tmp` must not give this write's file its owner and bits.
  if (entry !== null && s.options.overwrite) {
    yield* checkStickyOwner(s, entry);
  }
  return entry;
}

/** Matches the open temporary file to `entry` (or to a new file's), and makes that durable. */
function* rematch(s: Replacement, entry: EntryInfo | null): Steps<void> {
  s.matched = entry;
  s.rematching = true;
  yield* matchOwnerAndMode(s, entry, wantedMode(s, entry));
  yield* syncTemp(s);
}

/** Whether `a` and `b` (either may be missing) have the same owner, group and bits. */
function sameOwnerAndBits(a: EntryInfo | null, b: EntryInfo | null): boolean {
  if (a === null || b === null) return a === b;
  return a.uid === b.uid && a.gid === b.gid && a.mode === b.mode;
}

/**
 * Fsyncs the temporary file; an update looks at its lock alongside (one
 * round trip fewer before the rename: see `guard` in `_lock_hold.ts`).
 */
function* syncLooking(s: Replacement, temp: string): Steps<void> {
  const sync = request("sync", s.file);
  if (s.guard === null && s.pinned === null) {
    return yield* act(s, "fsync", temp, sync);
  }
  const place = s.pinned === null ? [] : placeLooks(s, s.pinned);
  const guard = s.guard === null ? [] : s.guard.looks();
  const since = monotonic();
  const [synced, ...looks] = (yield* all([sync, ...place, ...guard])) as [
    Settled<void>,
    ...Settled<EntryInfo | null>[],
  ];
  if (!synced.ok) throw failure(s, "fsync", temp, synced.error);
  if (place.length > 0) s.placed = { held: looks[0], path: looks[1], since };
  if (guard.length > 0) {
    s.looked = { entries: looks.slice(place.length), since };
  }
}

/** The looks that tell whether an update's path still leads to the directory its lock holds (`pinned`): that directory, and the one the path leads to. */
function placeLooks(
  s: Replacement,
  pinned: DirectoryHandle,
): [Request<EntryInfo | null>, Request<EntryInfo | null>] {
  return [request("stat", pinned.path), request("stat", dirname(s.final))];
}

/**
 * Throws `EAGAIN` unless an update's path still leads to the directory its
 * lock holds, just before its rename: a directory on the way renamed, a
 * link on the way pointed elsewhere, a file system mounted over it, moved
 * or unmounted (lazily) since the lock was taken. The update would replace
 * a file its path no longer names, and report a success nobody sees there,
 * in a directory where other processes now lock another file. By the looks
 * made alongside the fsync if they are fresh, else by new ones.
 */
function* stillLocked(s: Replacement, pinned: DirectoryHandle): Steps<void> {
  let placed = s.placed;
  s.placed = null;
  if (placed === null || monotonic() - placed.since >= FRESH_LOOK_MS) {
    const since = monotonic();
    const [held, path] = yield* both(...placeLooks(s, pinned));
    placed = { held, path, since };
  }
  if (sameDirectory(placed.held, placed.path)) return;
  // A look that failed says why (an I/O error), not that the path moved.
  for (const look of [placed.held, placed.path]) {
    if (!look.ok) throw failure(s, "stat", dirname(s.final), look.error);
  }
  throw problem(
    s,
    "EAGAIN",
    s.options.overwrite ? "rename" : "link",
    s.final,
    "the path no longer leads to the directory of the file locked (a directory on the way renamed, a link on it pointed elsewhere, or a file system mounted over it, moved or unmounted, since the lock was taken)",
  );
}

/**
 * Puts the sealed file in place: rename (or link), then fsync the directory.
 * The asynchronous API first waits for its turn (see `_async_phases.ts`).
 */
export function* publish(s: Replacement): Steps<void> {
  const temp = s.temp as string;
  s.options.signal?.throwIfAborted();
  if (s.guard) {
    yield* s.guard.check(s.looked);
    // The check's looks take time: an abort meanwhile still comes first.
    s.options.signal?.throwIfAborted();
  }
  s.looked = null;
  if (s.pinned !== null) yield* stillLocked(s, s.pinned);
  yield* renameOrLink(s, temp);
  s.committed = true;
  s.ticket?.renamed();
  // An update's lock goes now, alongside the directory's fsync (see
  // `updateFileAtomic`).
  s.guard?.committed();
  if (s.options.overwrite) {
    s.temp = null;
    s.inFlight.delete(temp);
    yield* leaveCloset(s);
  } else {
    // The link made the target; the temporary name goes (best effort: it is
    // now just a second name of the target).
    yield* removeTemp(s);
  }
  const dir = dirname(s.final);
  if (s.options.fsync) {
    yield* act(
      s,
      "fsync directory",
      dir,
      request("syncDir", dir, s.held?.file),
    );
  }
  yield* release(s);
}

/** After `prepare`, for the synchronous API: hook, write, seal, publish. */
function* fillAndPublish(s: Replacement, bytes: Uint8Array): Steps<void> {
  // The compat entry points' hook; a synchronous run does not wait for it.
  s.options.tempCreated?.(s.temp as string);
  yield* writeAll(s, bytes);
  yield* seal(s);
  yield* publish(s);
}

/**
 * The whole replacement with one buffer, for the synchronous API. The
 * asynchronous one runs the same phases with waits between them
 * (`_async_phases.ts`).
 */
export function* replace(s: Replacement, bytes: Uint8Array): Steps<void> {
  yield* prepare(s);
  yield* orDiscard(s, fillAndPublish(s, bytes));
}

/** Picks a new temporary name beside the target and records it as in flight. */
function nextTempPath(s: Replacement): string {
  const path = inDirectory(
    dirname(s.final),
    tempName(basename(s.final), s.host.owner),
  );
  s.temp = path;
  s.tempSince = monotonic();
  s.inFlight.add(path);
  return path;
}

/** Forgets a temporary name whose creation failed: it is not ours to remove. */
function forgetTemp(s: Replacement, path: string): void {
  s.temp = null;
  s.inFlight.delete(path);
}

/**
 * Creates the temporary file beside the target, exclusively, with `mode`: a
 * name collision retries with a new name, a missing directory is created
 * when the `mkdir` option is set. With `lookAtDirectory`, the directory's
 * `stat` goes alongside the first try, for the group the file gets
 * (`_new_file_group.ts`).
 */
function* createTemp(
  s: Replacement,
  mode: number,
  lookAtDirectory = false,
  lookAtTarget = false,
): Steps<Omit<Looks, "made">> {
  let madeDirectory = false;
  let looks: Omit<Looks, "made"> = { stillHeld: true };
  for (let attempt = 1;; attempt++) {
    const path = nextTempPath(s);
    const create = request("createExclusive", named(s, path), mode);
    let result: Settled<OpenFile>;
    if (attempt === 1 && (lookAtDirectory || lookAtTarget || s.shared)) {
      const { made, ...rest } = yield* createLooking(
        s,
        create,
        lookAtTarget,
        lookAtDirectory,
      );
      result = made;
      looks = rest;
    } else result = yield* settle(create);
    if (result.ok) {
      s.file = result.value;
      s.createdMode = mode;
      return looks;
    }
    forgetTemp(s, path);
    const code = codeOf(result.error);
    if (code === "ENOENT" && s.options.mkdir && !madeDirectory) {
      const dir = dirname(s.final);
      yield* act(s, "create directory", dir, request("mkdir", dir));
      madeDirectory = true;
    } else if (code !== "EEXIST" || attempt >= MAX_NAME_ATTEMPTS) {
      throw failure(s, "create temporary file", path, result.error);
    }
  }
}

/** What {@linkcode createLooking} found. */
interface Looks {
  /** The temporary file's creation. */
  made: Settled<OpenFile>;
  /** The target's `lstat` through the directory held, if asked for. */
  target?: Settled<EntryInfo | null> | undefined;
  /**
   * Whether the directory held is still the one its path leads to: always,
   * unless it was shared with writes in flight (`s.shared`), opened by them
   * before the path may have been given another directory.
   */
  stillHeld: boolean;
}

/**
 * Creates the temporary file (`create`) and, alongside it, the target's
 * `lstat` (`lookAtTarget`) and the directory's `stat` (`lookAtDirectory`,
 * for the group a new file there gets: `_new_file_group.ts`) through the
 * directory held; for a directory shared with writes in flight, also its
 * `stat` by path, which must find the same directory.
 */
function* createLooking(
  s: Replacement,
  create: Request<OpenFile>,
  lookAtTarget: boolean,
  lookAtDirectory: boolean,
): Steps<Looks> {
  const statHeld = lookAtDirectory || s.shared;
  const results = yield* all([
    ...(lookAtTarget ? [request("lstat", named(s, s.final))] : []),
    create,
    ...(statHeld ? [request("stat", directoryPath(s))] : []),
    ...(s.shared ? [request("stat", dirname(s.final))] : []),
  ]);
  const target = lookAtTarget
    ? results.shift() as Settled<EntryInfo | null>
    : undefined;
  const [made, ...looks] = results as [
    Settled<OpenFile>,
    ...Settled<EntryInfo | null>[],
  ];
  const directory = statHeld ? looks.shift() : undefined;
  if (lookAtDirectory && directory) {
    s.directory = directory.ok ? directory.value : null;
  }
  const stillHeld = !s.shared || sameDirectory(directory, looks.shift());
  if (!stillHeld && s.held !== null) s.directories.forget(s.held);
  return { made, target, stillHeld };
}

/** Whether two `stat`s found the same directory. */
function sameDirectory(
  a: Settled<EntryInfo | null> | undefined,
  b: Settled<EntryInfo | null> | undefined,
): boolean {
  return a?.ok === true && b?.ok === true && a.value !== null &&
    b.value !== null && a.value.id === b.value.id;
}

/**
 * A rename's `EBUSY` where it is not transient (not Windows): a regular file
 * is then busy only as a mount point, a file mounted onto the target as
 * Docker does for single files, which no rename can replace.
 */
function mountPointFailure(s: Replacement, error: unknown): AtomicWriteError {
  return new AtomicWriteError({
    code: "EBUSY",
    operation: "rename",
    path: s.final,
    target: s.target,
    cause: error,
    reason: MOUNT_POINT_REASON,
    task: s.task,
  });
}

/**
 * `overwrite: false`'s `EEXIST`, where the link's failure said something else
 * with a file at the name (see `_name_taken.ts`): any file there is the
 * answer, whatever code the file system gave.
 */
function nameTakenFailure(s: Replacement, error: unknown): AtomicWriteError {
  if (codeOf(error) === "EEXIST") {
    return failure(s, "link", s.final, error);
  }
  return new AtomicWriteError({
    code: "EEXIST",
    operation: "link",
    path: s.final,
    target: s.target,
    cause: error,
    reason: `a file is at the name (the file system said ${codeOf(error)})`,
    task: s.task,
  });
}

/** Renames (or links) the temporary file onto the target, retrying transient failures. */
function* renameOrLink(s: Replacement, temp: string): Steps<void> {
  const op = s.options.overwrite ? "rename" : "link";
  for (let attempt = 0;; attempt++) {
    try {
      yield* perform(request(op, named(s, temp), named(s, s.final)));
      return;
    } catch (error) {
      const delay = RETRY_DELAYS_MS[attempt];
      const code = codeOf(error);
      if (op === "link" && (yield* nameTaken(named(s, s.final), error))) {
        throw nameTakenFailure(s, error);
      }
      if (op === "link" && code === "EISDIR") {
        // libuv's word for Windows' ERROR_INVALID_FUNCTION from
        // CreateHardLinkW on exFAT and FAT: the EPERM of Linux there.
        throw problem(
          s,
          "EPERM",
          "link",
          s.final,
          "the file system has no hard links",
        );
      }
      if (!s.host.renameRetryCodes.has(code)) {
        throw code === "EBUSY" && op === "rename"
          ? mountPointFailure(s, error)
          : failure(s, op, s.final, error);
      }
      if (delay === undefined) throw failure(s, op, s.final, error);
      yield* perform(request("sleep", delay));
    }
  }
}
