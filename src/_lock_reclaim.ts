/**
 * Taking over a stale lock without a race (the reclaim mutex; see the
 * module doc of `_lock.ts`), for a waiter, a holder retiring its own expired
 * lock, and the sweep of `removeStaleTemps`.
 */
import { basename, dirname } from "node:path";
import { inDirectory } from "./_replacement.ts";
import { isYounger } from "./_age.ts";
import { codeOf, errorCode } from "./_error_code.ts";
import { isWithheldPermission } from "./runtime/_errno.ts";
import type { AtomicWriteError } from "./atomic_write_error.ts";
import { lockOf, reclaimName, tokenHash } from "./_lock_name.ts";
import { newRecord, type Sighting, staleReason } from "./_lock_record.ts";
import { request, settle, type Steps } from "./_steps.ts";
import type { EntryInfo, RuntimeAdapter } from "./runtime/types.ts";
import {
  act,
  checks,
  createRecord,
  DEFAULT_LEASE_MS,
  holderPathFor,
  lockError,
  lockModeIn,
  type LockPlan,
} from "./_lock.ts";
import { isSameLock, look } from "./_lock_look.ts";
import { anotherUser, STICKY } from "./_sticky.ts";
import { wallClock } from "./_clock.ts";

/**
 * How deep a chain of dead reclaimers is followed. Each link is a process
 * that died while it reclaimed the lock, so a chain grows only where the
 * mutexes cannot be removed (an append-only directory, where each failed
 * reclaim leaves its own): past this, the lock cannot be taken by anyone,
 * and waiting would be forever.
 */
const MAX_RECLAIM_DEPTH = 16;

/**
 * Takes over the lock file at `path`, seen as `seen`, if it is still stale
 * once this process holds its reclaim mutex (see the module comment);
 * returns the paths it removed (the file, its holder's own name for it).
 * `force` skips the staleness check: a holder retiring its own expired lock.
 * The mutex is named after `mutexToken`, the file's token unless it already
 * sits at the mutex of its token (see {@linkcode sweepLock}).
 */
export function* reclaim(
  plan: LockPlan,
  lock: string,
  path: string,
  seen: Sighting,
  depth: number,
  force: boolean,
  mutexToken: string = seen.token,
): Steps<string[]> {
  const mutex = inDirectory(
    dirname(lock),
    reclaimName(basename(lock), mutexToken),
  );
  // Names this thread as a holder's second name would (the mutex has none).
  const mine = newRecord(
    plan.adapter.identity(),
    plan.lease,
    basename(holderPathFor(plan, mutex)),
  );
  const dir = yield* settle(request("stat", dirname(lock)));
  const mode = lockModeIn(dir.ok ? dir.value : null);
  const made = yield* createRecord(plan, mutex, mine, mode, {
    operation: "reclaim lock",
  });
  if (made === null) {
    // Another process is reclaiming this very lock. If it died doing so,
    // its mutex is stale in turn, and is reclaimed the same way. But a file
    // there with the token the mutex is named after is no mutex: it is the
    // lock itself, which that process has moved there (step 3), and whose
    // mutex would be this very name. The lock judged has left the lock's
    // name; what stays at the mutex is the sweep's (see `sweepLock`).
    const other = yield* look(plan, mutex);
    if (other !== null && other.token === mutexToken) return [];
    if (
      other !== null &&
      staleReason(other, wallClock(), plan.lease, checks(plan.adapter)) !== null
    ) {
      if (depth >= MAX_RECLAIM_DEPTH) throw deadEnd(plan, mutex, depth);
      return yield* reclaim(plan, lock, mutex, other, depth + 1, false);
    }
    return [];
  }
  const removed: string[] = [];
  try {
    const again = yield* look(plan, path);
    if (
      again === null || again.entry.id !== seen.entry.id ||
      again.token !== seen.token ||
      (!force &&
        staleReason(again, wallClock(), plan.lease, checks(plan.adapter)) ===
          null)
    ) {
      return removed; // released, replaced, or refreshed since it was judged
    }
    const taken = yield* settle(request("rename", path, mutex));
    // Gone since the look (its holder's release came late, or a sweep
    // reclaimed it): nothing to reclaim, and the lock is free.
    if (!taken.ok && codeOf(taken.error) === "ENOENT") return removed;
    if (!taken.ok) {
      throw cannotReclaim(
        plan,
        path,
        again,
        dir.ok ? dir.value : null,
        taken.error,
      );
    }
    const moved = yield* act(plan, "stat lock", mutex, request("lstat", mutex));
    // The gone holder's own name, looked at after what moved: still the
    // file judged, it kept that file's inode alive all along, so what moved
    // with its number is that file. Else (no such name, or a file system
    // that reuses a freed number at once, or numbers names apart) the token
    // decides, as where the rename gave the file a new number (an
    // overlay's lower layer: the rename copies the file up).
    const own = seen.holder === null
      ? null
      : inDirectory(dirname(lock), seen.holder.name);
    const kept = own === null ? null : yield* settle(request("lstat", own));
    const pinned = kept?.ok === true && kept.value?.id === seen.entry.id;
    const same = yield* isSameLock(
      plan,
      mutex,
      moved,
      seen.entry.id,
      seen.token,
      pinned,
    );
    if (moved !== null && !same) {
      // Not the file judged stale: a live lock. Put it back; link(2) fails
      // rather than replace a lock made since.
      yield* settle(request("link", mutex, path));
      return removed;
    }
    removed.push(path); // it goes with the mutex, below
    if (own !== null && kept?.ok) {
      // The gone holder's own name for the file goes with it, if it still
      // is that file: a name its holder alone ever made, so its identity
      // needs nothing to pin it.
      const same = yield* isSameLock(
        plan,
        own,
        kept.value,
        seen.entry.id,
        seen.token,
        true,
      );
      if (same && (yield* settle(request("remove", own))).ok) removed.push(own);
    }
    return removed;
  } finally {
    yield* settle(request("close", made.file));
    yield* settle(request("remove", mutex));
  }
}

/**
 * The failure to move the stale lock at `path`, seen as `seen`, onto its
 * mutex, in the directory `dir` (as `stat` saw it, if it could). In a sticky
 * directory only the lock's owner, the directory's owner or root may:
 * another user's waiter is told whose lock it is. Elsewhere a refusal to
 * the owner (or root) comes from the directory itself: append-only or
 * immutable, where nothing can be renamed or removed, by anyone.
 */
function cannotReclaim(
  plan: LockPlan,
  path: string,
  seen: Sighting,
  dir: EntryInfo | null,
  cause: unknown,
): AtomicWriteError {
  const code = codeOf(cause);
  const refused = code === "EPERM" || code === "EACCES";
  // The kernel's rule: the entry's owner, the directory's, or root; and
  // root only over owners its user namespace maps (-1: one it does not).
  const uid = plan.adapter.ids()?.uid;
  const sticky = dir !== null && (dir.mode & STICKY) !== 0;
  const theirs = sticky && seen.entry.uid !== uid && dir.uid !== uid &&
    (uid !== 0 || seen.entry.uid < 0);
  return lockError(
    plan,
    code,
    "reclaim lock",
    path,
    !refused
      ? undefined
      : theirs
      ? `the stale lock belongs to ${
        anotherUser(seen.entry.uid)
      } in a sticky directory, where only they, the directory's owner or root may remove it`
      : code === "EPERM"
      ? "the directory lets no entry be renamed or removed (append-only or immutable: `chattr +a`/`+i`); the lock stays until that is lifted"
      : undefined,
    cause,
  );
}

/**
 * The failure of a waiter that found, at `mutex`, the end of a chain of
 * `depth` reclaims of one lock whose processes all died, each left behind.
 */
function deadEnd(
  plan: LockPlan,
  mutex: string,
  depth: number,
): AtomicWriteError {
  return lockError(
    plan,
    "EDEADLK",
    "reclaim lock",
    mutex,
    `${
      depth + 1
    } reclaims of the lock by processes that died are in the way, each left behind (a directory that lets nothing be removed, such as an append-only one); once that is lifted, removeStaleTemps(dir, { olderThan: 0 }) removes them`,
  );
}

/**
 * The token that names the mutex for reclaiming a lock of token `token`
 * that sits at its own mutex's name, where a reclaimer moved it (step 3 of
 * the module comment of `_lock.ts`) and then died, or failed to remove it
 * (`EIO`). Its own token names that very file, so another is needed; every
 * sweeper derives the same one from it, so only one of them reclaims it.
 */
function movedLockToken(token: string): string {
  return tokenHash(`moved ${token}`);
}

/**
 * Removes the lock file (or reclaim mutex) at `path` if its holder is gone
 * and it was last touched at least `olderThan` ms before `now`, through the
 * same race-free reclaim as a waiter; returns the paths removed (`null`:
 * not a lock's name). A file that is not one of ours is left alone, and so
 * is one that `mayRemove` refuses (another user's, in a sticky directory).
 *
 * A file at a mutex's name whose token is the one that name carries is no
 * mutex: it is the lock itself, moved there by a reclaimer (step 3 of the
 * module comment of `_lock.ts`) that then died, or failed to remove it
 * (`EIO`). Nobody else would ever remove it: a waiter that finds it knows
 * that the lock it judged has left the lock's name, and competes again. It
 * is reclaimed like any stale lock (looked at again, the same file and
 * still stale; moved onto a mutex of this sweeper's; checked; removed),
 * through a mutex named by {@linkcode movedLockToken}, since its own token
 * names the very name it sits at. That is safe even if its reclaimer is
 * still alive, between its rename and its removal: a reclaimer that finds
 * what it moved gone takes it as removed, which it is, then removes the
 * holder's own name if still that file, and its mutex's name, if there. One
 * interleaving costs time, never a second holder: while the name is free, a
 * latecomer that judged the lock before it was moved may make its own mutex
 * there; a live reclaimer that looks at what it moved only then takes that
 * mutex for a live lock moved by mistake and links it back to the lock's
 * name (if free: `link(2)` never replaces a lock), where it is judged as a
 * lock of that latecomer's, and taken over once its lease is out.
 */
export function* sweepLock(
  path: string,
  adapter: RuntimeAdapter,
  now: number,
  olderThan: number,
  mayRemove: (entry: EntryInfo) => boolean,
): Steps<string[] | null> {
  const lock = lockOf(basename(path));
  if (lock === null) return null;
  const plan: LockPlan = {
    target: path,
    lease: DEFAULT_LEASE_MS,
    timeout: 0,
    signal: undefined,
    mkdir: false,
    adapter,
    watch: false,
    read: false,
  };
  try {
    const seen = yield* look(plan, path);
    if (
      seen === null || !mayRemove(seen.entry) ||
      isYounger(seen.entry, now, olderThan) ||
      staleReason(seen, now, plan.lease, checks(adapter)) === null
    ) {
      return [];
    }
    const lockPath = inDirectory(dirname(path), lock);
    return yield* reclaim(
      plan,
      lockPath,
      path,
      seen,
      0,
      false,
      basename(path) === reclaimName(lock, seen.token)
        ? movedLockToken(seen.token)
        : seen.token,
    );
  } catch (error) {
    // A permission the runtime withholds is the caller's to grant, and a
    // failure of the file system (EIO, ENOSPC, EROFS, …) fails the sweep
    // (once the rest is swept: `remove_stale_temps.ts`); what concerns this
    // one entry leaves it alone, and the sweep goes on.
    if (isWithheldPermission((error as Error).cause ?? error)) throw error;
    if (LEFT_ALONE.has(errorCode(error) ?? "")) return [];
    throw error;
  }
}

/**
 * The codes of a lock's sweep that leave it alone: not a lock file of ours,
 * or its reclaim mutex's name taken by something not ours (`EEXIST`); not
 * this user's to read or remove (`EACCES`, `EPERM`: another user's, in a
 * sticky directory); gone meanwhile, with its directory maybe (`ENOENT`);
 * a chain of reclaimers that died in the way (`EDEADLK`), each of whose
 * mutexes the sweep judges as an entry of its own.
 */
const LEFT_ALONE: ReadonlySet<string> = new Set([
  "EEXIST",
  "EACCES",
  "EPERM",
  "ENOENT",
  "EDEADLK",
]);
