/**
 * Holding a lock: the heartbeat that renews its lease, the guard an update
 * runs just before its rename, losing it, and giving it up.
 */
import { basename, dirname } from "node:path";
import { codeOf, errorCode } from "./_error_code.ts";
import type { AtomicWriteError } from "./atomic_write_error.ts";
import type { Sighting } from "./_lock_record.ts";
import {
  all,
  type Request,
  request,
  settle,
  type Settled,
  type Steps,
} from "./_steps.ts";
import {
  FRESH_LOOK_MS,
  type Guard,
  type Looked,
  resolution,
  writerOf,
} from "./_replacement.ts";
import { type Held, lockError, marginOf, taskOf } from "./_lock.ts";
import { checkStickyOwner, type Owned } from "./_sticky.ts";
import { reclaim } from "./_lock_reclaim.ts";
import { isSameLock } from "./_lock_look.ts";
import { leave } from "./_lock_queue.ts";
import { letGo, through } from "./_lock_directory.ts";
import { isQueueName } from "./_lock_name.ts";
import type { EntryInfo } from "./runtime/types.ts";
import { monotonic, wallClock } from "./_clock.ts";

/**
 * Marks `held` lost (once) and returns the reason. A lock already given up
 * is not lost: a heartbeat that was looking at it as it was released finds
 * its name gone, and its signal must not abort.
 */
export function markLost(held: Held, reason: string): AtomicWriteError {
  if (held.lost !== null) return held.lost;
  const lost = lockError(
    held.plan,
    "ELOCKLOST",
    "hold lock",
    held.path,
    reason,
  );
  if (held.released) return lost;
  held.lost = lost;
  held.onLost?.();
  // Whoever holds the lock now, it is not this thread: its next lock or
  // update of the file need not wait for this one's release.
  held.leaveLine?.();
  return lost;
}

/** Whether `held` still has at least the fencing margin of lease left at `now`. */
function inLease(held: Held, now: number): boolean {
  return now < held.beatAt + held.plan.lease - marginOf(held.plan.lease);
}

/**
 * Why `held` stopped trusting its lock at `now`, found just before
 * `before`: less than the margin of its lease was left (the lease itself
 * may not have run out yet; see {@linkcode inLease}).
 */
function marginGone(held: Held, now: number, before: string): string {
  const ms = (n: number) => `${Math.round(n)} ms`;
  const lease = ms(held.plan.lease);
  const margin = ms(marginOf(held.plan.lease));
  const since = ms(now - held.beatAt);
  return `the lease, last renewed ${since} ago, had less than its margin ` +
    `(${margin} of ${lease}) left before ${before}`;
}

/**
 * The looks that tell whether the lock's name is still `held`'s lock file
 * (see {@linkcode isHeld}): the `lstat` of that name and, where the lock has
 * one, of the holder's own name, in one round trip.
 */
function looksAt(held: Held): Request<EntryInfo | null>[] {
  const lock = request("lstat", held.path);
  return held.holder === null ? [lock] : [lock, request("lstat", held.holder)];
}

/**
 * Whether the lock's name is still `held`'s lock file; its entry if so.
 * `looks`: those of {@linkcode looksAt}, if just made.
 *
 * Its identity there proves it only while something of this holder's keeps
 * its inode alive, so that no other file can have the number (see
 * `isSameLock`): the file kept open (a file system without hard links), or
 * the holder's own name still that file, which no one else ever makes,
 * found in the same round trip. The two looks are of one moment: a swap of
 * both names within it is the window the check already leaves until the
 * rename (README, Limits). Otherwise (that name removed, or numbered apart
 * from the lock's, as on sshfs) the record's token decides.
 */
function* isHeld(
  held: Held,
  looks?: readonly Settled<EntryInfo | null>[],
): Steps<EntryInfo | null> {
  const [found, own] = looks ??
    (yield* all(looksAt(held))) as Settled<EntryInfo | null>[];
  const entry = found.ok ? found.value : null;
  const pinned = held.file !== null ||
    (own?.ok === true && own.value?.id === held.id);
  const same = yield* isSameLock(
    held.plan,
    held.path,
    entry,
    held.id,
    held.record.token,
    pinned,
  );
  return same ? entry : null;
}

/**
 * Checks that `held` is still this process's lock, with margin to spare;
 * throws `ELOCKLOST` if not. Run just before an update's rename: the lease
 * then; the lock file's identity by the look `looked` made alongside the
 * fsync of the update's temporary file, if that look is fresh and finds the
 * lock (one round trip fewer), else by a new look. Only the lease decides
 * whether another process may take the lock over (`_lock.ts`); the identity
 * finds a lock file that went some other way (removed by hand).
 */
export function* guard(
  held: Held,
  looked: Looked | null,
  before = "the update could commit",
): Steps<void> {
  if (held.lost) throw held.lost;
  const now = wallClock();
  if (!inLease(held, now)) throw markLost(held, marginGone(held, now, before));
  const fresh = looked !== null &&
    monotonic() - looked.since < FRESH_LOOK_MS;
  if (fresh && (yield* isHeld(held, looked.entries))) return;
  // No look, an old one, or one that did not find the lock: look now, as
  // before looks were made alongside the fsync. (Once, on sshfs under load,
  // an update failed with ELOCKLOST at this check when only the look made
  // alongside the fsync decided; a lock is never declared lost on it alone.)
  const looks = (yield* all(looksAt(held))) as Settled<EntryInfo | null>[];
  if (!(yield* isHeld(held, looks))) throw markLost(held, whyNotHeld(looks[0]));
  // The look may have taken its time (a record read short is looked at
  // again, up to 150 ms): the margin must still be there.
  const later = wallClock();
  if (!inLease(held, later)) {
    throw markLost(held, marginGone(held, later, before));
  }
}

/** Why a look at the lock's name (`found`) did not find the lock file held. */
function whyNotHeld(found: Settled<EntryInfo | null>): string {
  if (!found.ok) {
    return `the lock file could not be looked at (${
      codeOf(found.error)
    }), so it may have been taken over`;
  }
  return found.value === null
    ? "the lock file is gone (removed by another process, or by hand)"
    : "the lock file was taken over by another process";
}

/**
 * The {@linkcode Guard} of an update under `held`; `letGo` starts the
 * release once the update has renamed.
 */
export function guardOf(held: Held, letGo: () => void): Guard {
  return {
    looks: () => looksAt(held),
    check: (looked) => guard(held, looked),
    committed: letGo,
  };
}

/**
 * Sets the modification time of `held`'s lock file to `ms`: through the
 * file kept open (a file system without hard links), else through the
 * holder's own name, which nobody else makes, and which only a process
 * that took the lock over removes (the touch then fails, and the lock is
 * lost: it was). Never through the lock's name, which may be another
 * holder's by then. `null` once neither is left (released).
 */
function touchLock(held: Held, ms: number): Request<void> | null {
  if (held.file !== null) return request("touch", held.file, ms);
  if (held.holder !== null) return request("touchName", held.holder, ms);
  return null;
}

/** One heartbeat: checks the lock, then renews its lease. Marks it lost instead of throwing. */
export function* heartbeat(held: Held): Steps<void> {
  if (held.released || held.lost) return;
  const now = wallClock();
  try {
    yield* guard(held, null, "its heartbeat could renew it");
  } catch {
    return; // guard marked it lost
  }
  const touch = touchLock(held, now);
  if (held.released || touch === null) return;
  const touched = yield* settle(touch);
  if (touched.ok) held.beatAt = now;
  else {markLost(
      held,
      `the heartbeat failed (${codeOf(touched.error)})`,
    );}
}

/**
 * Gives up the lock file. Never throws: a lock file that cannot be removed
 * has its lease ended instead (see below). Within its lease, with the margin to
 * spare, nobody may judge the lock stale, so removing it by name is safe;
 * later (or once found lost), a waiter may be reclaiming it, so it goes
 * through the reclaim mutex like a waiter, which removes it only if it is
 * still this very file.
 */
export function* release(held: Held): Steps<void> {
  if (held.released) return;
  held.released = true;
  const expire = touchLock(held, 0);
  const file = held.file;
  held.file = null;
  if (held.lost === null && inLease(held, wallClock())) {
    // The lock's name goes first: a power cut between the two removals
    // leaves at most the holder's own name (a temporary file that
    // `removeStaleTemps` sweeps), never a lock without it.
    const removed = yield* settle(request("remove", held.path));
    if (
      !removed.ok && errorCode(removed.error) !== "ENOENT" && expire !== null
    ) {
      // It stays (an I/O error, a directory that lets nothing be removed):
      // its heartbeat is set to the epoch, through the file still open or
      // the holder's own name, so its lease is over and the next taker
      // takes it over at once, as a gone holder's, instead of after the
      // lease.
      yield* settle(expire);
    }
  } else {
    yield* reclaimOwn(held);
  }
  const last = [
    ...(held.holder === null ? [] : [request("remove", held.holder)]),
    ...(file === null ? [] : [request("close", file)]),
  ];
  // The ticket goes after the lock's name: the waiter behind it wakes to a
  // free lock.
  const ticket = held.ticket;
  held.ticket = null;
  if (ticket !== null) yield* leave(ticket, last);
  else if (last.length > 0) yield* all(last);
  // Its files are gone: their directory, held for them, is let go.
  held.removed = true;
  yield* letGo(held.plan);
  held.leaveLine?.();
}

/**
 * Removes the lock file through the reclaim mutex if it is still `held`'s
 * own (see `reclaim`): never by name, since another process may have it by
 * then. Never throws: a lock that cannot be reclaimed stays until it is
 * judged stale.
 */
function* reclaimOwn(held: Held): Steps<void> {
  const entry = yield* isHeld(held);
  if (entry === null) return;
  const seen: Sighting = {
    entry,
    record: held.record,
    token: held.record.token,
    holder: null, // removed by the caller in any case
  };
  try {
    yield* reclaim(held.plan, held.path, held.path, seen, 0, true);
  } catch { /* then it stays until it is judged stale */ }
}

/**
 * The release of `held` as the thread exits, in place of removing its
 * names (`names`: the lock's, the holder's own, its ticket) by name:
 * {@linkcode release}, or, where a release is under way (its calls may not
 * all be made, or still be in the runtime's thread pool), what it may have
 * left: the lock, through the reclaim mutex if it is still this holder's
 * (never by name: that release may have removed it, and another process
 * taken the name since), then the holder's own name and its ticket (with
 * the line, if it was the last), which only this thread makes, by name.
 */
export function* releaseAtExit(
  held: Held,
  names: readonly string[],
): Steps<void> {
  if (!held.released) return yield* release(held);
  if (held.removed) return; // all gone: only its directory was left to close
  yield* reclaimOwn(held);
  for (const name of names) {
    if (name === held.path) continue;
    yield* settle(request("remove", name));
    if (isQueueName(basename(dirname(name)))) {
      yield* settle(request("removeDir", dirname(name)));
    }
  }
}

/**
 * Refuses the locked file, made by `file`'s owner, if another user made it
 * in a shared sticky directory (`checkStickyOwner`): one put at the name
 * since the lock looked at it, found by its read.
 */
function* refusePlanted(held: Held, file: Owned): Steps<void> {
  const s = resolution(held.final, writerOf(held.plan.adapter));
  s.task = taskOf(held.plan);
  yield* checkStickyOwner(s, file);
}

/**
 * For a reader of the locked file other than {@linkcode readLocked} (the
 * CLI's, which streams it): refuses the file it just opened, known by its
 * identity `id` (device and inode, from its `fstat`), as `readLocked`
 * refuses what it read; `EAGAIN` if the name no longer leads to it.
 */
export function* checkOpened(held: Held, id: string): Steps<void> {
  const path = through(held.plan, held.final);
  const found = yield* settle(request("lstat", path));
  if (!found.ok) {
    throw lockError(
      held.plan,
      codeOf(found.error),
      "stat",
      held.final,
      undefined,
      found.error,
    );
  }
  // The identity alone: the descriptor just opened keeps that file (and its
  // number) alive, so no other file can have it.
  if (found.value === null || found.value.id !== id) {
    throw lockError(
      held.plan,
      "EAGAIN",
      "read",
      held.final,
      "the file locked was replaced or removed as it was opened",
    );
  }
  yield* refusePlanted(held, found.value);
}

/**
 * The locked file's current content, or `null` if it does not exist: read
 * as the lock was taken (`plan.read`), or now. A file another user made in
 * a shared sticky directory since the lock looked at the name (`/tmp`) is
 * refused as the lock refuses it (`checkStickyOwner`), by the owner of the
 * very file read, before `fn` sees a byte of it.
 */
export function* readLocked(held: Held): Steps<Uint8Array | null> {
  const initial = held.initial;
  held.initial = null;
  const result = initial ??
    (yield* settle(request("readFile", through(held.plan, held.final))));
  if (result.ok) {
    if (result.value === null) return null;
    yield* refusePlanted(held, result.value);
    return result.value.bytes;
  }
  const code = codeOf(result.error);
  // Read never through a link (`O_NOFOLLOW`): the file locked was none.
  const link = code === "ELOOP";
  throw lockError(
    held.plan,
    link ? "EAGAIN" : code,
    "read",
    held.final,
    link
      ? "a symbolic link has taken the name of the file locked since the lock was taken, and is not followed"
      : undefined,
    result.error,
  );
}
