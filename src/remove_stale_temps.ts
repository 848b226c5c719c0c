/** Sweeping the temporary files that crashed writers left behind. */
import { currentContext } from "./_context.ts";
import { codeOf, errorCode } from "./_error_code.ts";
import { isWithheldPermission } from "./runtime/_errno.ts";
import { runAsync, runSync } from "./_run.ts";
import { perform, request, settle, type Steps } from "./_steps.ts";
import {
  basesOfTempName,
  CLOSET_SUFFIX,
  ownerState,
  tempNameOwner,
  type TempOwner,
} from "./_temp_name.ts";
import { isSharedSticky, STICKY } from "./_sticky.ts";
import { sweepLock } from "./_lock_reclaim.ts";
import { isYounger } from "./_age.ts";
import { isQueueName, lockOf } from "./_lock_name.ts";
import type { RuntimeAdapter } from "./runtime/types.ts";
import { takeOptions, toAbsolutePath, toMilliseconds } from "./_validate.ts";
import { AtomicWriteError } from "./atomic_write_error.ts";
import { inDirectory } from "./_replacement.ts";
import type { EntryInfo } from "./runtime/types.ts";
import type { WriterState } from "./runtime/_writer_identity.ts";
import { wallClock } from "./_clock.ts";

/**
 * Which temporary files {@linkcode removeStaleTemps} may remove. Only the
 * object's own properties count, each read once: inherited ones are ignored.
 *
 * @example Usage
 * ```ts
 * import { removeStaleTemps, type RemoveStaleTempsOptions } from "@x/atomic";
 *
 * const options: RemoveStaleTempsOptions = { olderThan: 24 * 60 * 60 * 1000 };
 * await removeStaleTemps(await Deno.makeTempDir(), options);
 * ```
 */
export interface RemoveStaleTempsOptions {
  /**
   * Only remove files last modified at least this many milliseconds ago.
   * This applies to files whose writer is proven gone; `0` removes all of
   * those at once.
   *
   * @default {3_600_000 (one hour)}
   */
  olderThan?: number | undefined;
  /**
   * The age, in milliseconds, from which a file whose writer cannot be
   * judged is removed anyway (and never before `olderThan`). A writer cannot
   * be judged when it ran on another machine or boot, in another PID
   * namespace (a container sharing the directory), or where /proc cannot be
   * read (macOS, Windows, Deno without `--allow-all`). Only age tells then:
   * keep this longer than any write can take.
   *
   * @default {86_400_000 (one day)}
   */
  olderThanIfUnknown?: number | undefined;
}

const DEFAULT_OLDER_THAN_MS = 60 * 60 * 1000;
const DEFAULT_OLDER_THAN_IF_UNKNOWN_MS = 24 * 60 * 60 * 1000;

/** The options, checked. */
interface Ages {
  olderThan: number;
  olderThanIfUnknown: number;
}

/** What the sweep needs to know besides the file-system requests. */
interface Judge {
  /** Whether the writer named in a temporary file's name still runs. */
  state(owner: TempOwner): WriterState;
  /** Temporary files this process has in flight: never touched. */
  mine: ReadonlySet<string>;
  /** The sweeping process's user, or `null` where unknown. */
  uid: number | null;
}

/** A file-system failure of the sweep, naming the operation and the path, keeping the code. */
function sweepError(
  dir: string,
  operation: string,
  path: string,
  cause: unknown,
  code: string = codeOf(cause),
): AtomicWriteError {
  return new AtomicWriteError({
    code,
    operation,
    path,
    target: dir,
    cause,
    task: `remove stale temporary files in "${dir}"`,
  });
}

/**
 * A lock's failure of the file system in the sweep of `dir`, told as the
 * sweep's (its code, operation and path kept); `null` for anything else (a
 * permission the runtime withholds).
 */
function lockSweepError(dir: string, error: unknown): AtomicWriteError | null {
  if (
    !(error instanceof AtomicWriteError) || isWithheldPermission(error.cause)
  ) {
    return null;
  }
  return sweepError(
    dir,
    error.operation,
    error.path,
    error.cause ?? error,
    error.code,
  );
}

function checkAges(options: unknown): Ages {
  const given = takeOptions(
    options,
    ["olderThan", "olderThanIfUnknown"],
    "options",
    () => "Cannot remove stale temporary files: options must be an object",
  );
  return {
    olderThan: toMilliseconds(
      given.olderThan,
      "olderThan",
      DEFAULT_OLDER_THAN_MS,
    ),
    olderThanIfUnknown: toMilliseconds(
      given.olderThanIfUnknown,
      "olderThanIfUnknown",
      DEFAULT_OLDER_THAN_IF_UNKNOWN_MS,
    ),
  };
}

/** How old a file must be to go, given what is known of its writer; `null`: never. */
function minimumAge(state: WriterState, ages: Ages): number | null {
  if (state === "alive") return null;
  if (state === "gone") return ages.olderThan;
  return Math.max(ages.olderThan, ages.olderThanIfUnknown);
}

/**
 * Whether the sweep may remove `entry` at all: a regular file (we never
 * make anything else, and never follow a link), and in a sticky directory
 * (`/tmp`) only one the sweeper owns. The kernel also lets the directory's
 * owner (and root) remove anyone's file there; the sweep does not, even as
 * root: other users' files are theirs to sweep. A sweeper whose own uid is
 * unknown (Deno without `--allow-sys`) cannot tell its files there from
 * anyone's, and removes none.
 */
function mayRemove(
  entry: EntryInfo,
  dir: EntryInfo,
  uid: number | null,
): boolean {
  if (entry.kind !== "file") return false;
  // Through a link to the directory, its sticky bit is unknown: assume the strict case.
  const sticky = dir.kind === "symlink" || (dir.mode & STICKY) !== 0;
  return !sticky || (uid !== null && entry.uid === uid);
}

/**
 * Removes, from `dir`, the regular files named like our temporary files
 * whose writer is gone (or cannot be judged, and is old enough for that),
 * last changed at least the required age before `now`; returns their paths.
 */
function* sweep(
  dir: string,
  ages: Ages,
  now: number,
  judge: Judge,
  adapter: RuntimeAdapter,
  nested = false,
): Steps<string[]> {
  let names: string[];
  let dirInfo: EntryInfo | null;
  try {
    dirInfo = yield* perform(request("lstat", dir));
    names = yield* perform(request("readDir", dir));
  } catch (error) {
    // A queue directory is one entry of the sweep: the last waiter out
    // removes it, another user's may be closed to this one.
    if (nested && skips(error, QUEUE_SKIPPED)) return [];
    throw sweepError(dir, "read directory", dir, error);
  }
  const removed: string[] = [];
  const lockNames = new Set(names.filter((name) => lockOf(name) === name));
  // Lock files first: a dead holder's lock is found by its holder's own
  // name (a temporary name), which must still be there (see `_lock.ts`).
  const locksFirst = (name: string) => lockOf(name) === null ? 1 : 0;
  const sorted = [...names].sort((a, b) =>
    locksFirst(a) - locksFirst(b) || (a < b ? -1 : a > b ? 1 : 0)
  );
  const removable = (entry: EntryInfo) =>
    dirInfo !== null && mayRemove(entry, dirInfo, judge.uid);
  // A lock that the file system fails (EIO, a full disk) fails the sweep,
  // but only once the rest is swept: removing the temporary files may be
  // what frees the disk.
  let failedLock: AtomicWriteError | null = null;
  for (const name of sorted) {
    // Lock files go through the lock protocol's own race-free reclaim.
    let locks: string[] | null;
    try {
      locks = yield* sweepLock(
        inDirectory(dir, name),
        adapter,
        now,
        ages.olderThan,
        removable,
      );
    } catch (error) {
      const failure = lockSweepError(dir, error);
      if (failure === null) throw error;
      failedLock ??= failure;
      continue;
    }
    if (locks !== null) {
      removed.push(...locks);
      continue;
    }
    // A lock's line of waiters (never made in a shared sticky directory,
    // where another user could have made one: it is left alone there).
    if (!nested && isQueueName(name) && mayHaveLine(dirInfo)) {
      removed.push(
        ...yield* sweepQueue(dir, dirInfo!, name, ages, now, judge, adapter),
      );
      continue;
    }
    const closet = tempNameOwner(name, CLOSET_SUFFIX);
    const owner = closet ?? tempNameOwner(name);
    const path = inDirectory(dir, name);
    if (owner === null || judge.mine.has(path)) continue;
    const age = minimumAge(judge.state(owner), ages);
    if (age === null) continue;
    const stat = yield* settle(request("lstat", path));
    if (!stat.ok) {
      if (skips(stat.error, SKIPPED)) continue;
      throw sweepError(dir, "stat", path, stat.error);
    }
    const entry = stat.value;
    if (entry === null || dirInfo === null) continue;
    if (isYounger(entry, now, age)) continue;
    if (closet !== null) {
      if (
        entry.kind === "directory" && !nested &&
        closetMaySweep(dirInfo, entry, judge.uid)
      ) {
        removed.push(...yield* sweepCloset(path, ages, now, judge, adapter));
      }
      continue;
    }
    if (!mayRemove(entry, dirInfo, judge.uid)) continue;
    if (yield* isHoldersName(dir, name, entry, lockNames)) continue;
    const gone = yield* settle(request("remove", path));
    if (gone.ok) {
      removed.push(path);
    } else if (!skips(gone.error, SKIPPED)) {
      throw sweepError(dir, "remove", path, gone.error);
    }
  }
  if (failedLock !== null) throw failedLock;
  return removed;
}

/**
 * Whether the temporary file `name` in `dir` (described by `entry`) is the
 * holder's own name for a lock still there (one of `lockNames`), the same
 * file: the lock was left (its holder lives, or its reclaim failed, on a
 * full disk), and that name is what lets the next locker take a dead
 * holder's lock at once, even one a power cut emptied. The lock's reclaim
 * removes both.
 */
function* isHoldersName(
  dir: string,
  name: string,
  entry: EntryInfo,
  lockNames: ReadonlySet<string>,
): Steps<boolean> {
  // Identities alone: a number reused only keeps a temporary file for a
  // later sweep, never removes one.
  for (const lock of basesOfTempName(name, lockNames)) {
    const found = yield* settle(request("lstat", inDirectory(dir, lock)));
    if (found.ok && found.value?.id === entry.id) return true;
  }
  return false;
}

/**
 * Whether a lock's queue directory in the directory described by `dir` can
 * be ours: the lock makes none in a shared sticky directory (`/tmp`), and
 * through a link the directory's sticky bit is unknown (the strict case).
 */
function mayHaveLine(dir: EntryInfo | null): boolean {
  return dir !== null && dir.kind === "directory" && !isSharedSticky(dir, true);
}

/**
 * Whether nobody but the sweeper (and root) can rename the entry `queue` of
 * the directory `dir` (both described by `lstat`): the sweeper owns both,
 * or root owns the directory, and neither its group nor others may write
 * it. The sweep of a queue goes into it by name, so someone who could swap
 * it for a link between two steps would lead the sweep's removals into any
 * directory they like (a sticky one, where the sweeper is root).
 */
function onlyTheSweeperRenames(
  dir: EntryInfo,
  queue: EntryInfo,
  uid: number | null,
): boolean {
  return uid !== null && queue.uid === uid &&
    (dir.uid === uid || dir.uid === 0) && (dir.mode & 0o022) === 0;
}

/**
 * Sweeps the lock queue directory `name` in `dir` (`_lock_queue.ts`): its
 * tickets are temporary files, judged as such (a live waiter's ticket
 * stays); the directory goes once empty (a waiter that lines up meanwhile
 * makes it again). A link or a file by that name is left alone, and so is
 * a queue that someone else could swap for a link meanwhile (see
 * {@linkcode onlyTheSweeperRenames}).
 */
function* sweepQueue(
  dir: string,
  dirInfo: EntryInfo,
  name: string,
  ages: Ages,
  now: number,
  judge: Judge,
  adapter: RuntimeAdapter,
): Steps<string[]> {
  const queue = inDirectory(dir, name);
  const entry = yield* settle(request("lstat", queue));
  if (
    !entry.ok || entry.value?.kind !== "directory" ||
    !onlyTheSweeperRenames(dirInfo, entry.value, judge.uid)
  ) {
    return [];
  }
  const removed = yield* sweep(queue, ages, now, judge, adapter, true);
  const emptied = yield* settle(request("removeDir", queue));
  return emptied.ok ? [...removed, queue] : removed;
}

/**
 * Whether the sweep may go into `closet`, a directory named as a closet
 * (`.atomic-closet`) of a writer judged gone (`_closet.ts`), of the directory
 * `dir` (both described by `lstat`): the sweeper made it (a closet is its
 * writer's alone), and nobody else but root can rename it meanwhile, as for
 * a queue ({@linkcode onlyTheSweeperRenames}), or in a sticky directory
 * that the sweeper or root owns.
 */
function closetMaySweep(
  dir: EntryInfo,
  closet: EntryInfo,
  uid: number | null,
): boolean {
  const sticky = (dir.mode & 0o1000) !== 0 &&
    (dir.uid === uid || dir.uid === 0);
  return uid !== null && closet.uid === uid &&
    (sticky || onlyTheSweeperRenames(dir, closet, uid));
}

/**
 * Sweeps a closet (see {@linkcode closetMaySweep}) left by a crash: the
 * temporary file in it, judged as such, then the closet once empty.
 */
function* sweepCloset(
  closet: string,
  ages: Ages,
  now: number,
  judge: Judge,
  adapter: RuntimeAdapter,
): Steps<string[]> {
  const removed = yield* sweep(closet, ages, now, judge, adapter, true);
  const emptied = yield* settle(request("removeDir", closet));
  return emptied.ok ? [...removed, closet] : removed;
}

/**
 * Codes of a look or removal that concern one entry only, which the sweep
 * skips: another sweeper was first, a directory took the name, something
 * is mounted onto it, or the entry is not this user's to remove (another
 * user's, in a sticky directory; or one whose owner an idmapped mount does
 * not map, which the kernel removes through it for nobody: `EOVERFLOW`).
 */
const SKIPPED = new Set([
  "ENOENT",
  "EISDIR",
  "EBUSY",
  "EPERM",
  "EACCES",
  "EOVERFLOW",
]);
/** Codes of a queue directory's read that skip it: gone meanwhile, or closed to this user. */
const QUEUE_SKIPPED = new Set(["ENOENT", "ENOTDIR", "EPERM", "EACCES"]);

/**
 * Whether the sweep skips the entry that failed with `error`: one of
 * `codes`, but never a permission the runtime withholds (Deno's
 * `--allow-write`, Node's `--allow-fs-write`), which is the caller's to
 * grant: that fails the sweep, naming the flag, rather than leave every
 * stale file in place while saying that none was stale.
 */
function skips(error: unknown, codes: ReadonlySet<string>): boolean {
  return codes.has(errorCode(error) ?? "") && !isWithheldPermission(error);
}

function plan(dir: unknown, options: unknown): Steps<string[]> {
  const path = toAbsolutePath(dir, "dir");
  const ages = checkAges(options);
  const { adapter, inFlight } = currentContext();
  const judge: Judge = {
    state: (owner) => ownerState(owner, adapter.writerState),
    mine: inFlight,
    uid: adapter.ids()?.uid ?? null,
  };
  return sweep(path, ages, wallClock(), judge, adapter);
}

/**
 * Removes the temporary files that writers killed mid-write (`kill -9`, a
 * crash, a power cut) left in `dir`. A write that ends normally, fails, or is
 * aborted removes its own temporary file; only a process that dies without
 * running any code can leave one behind, never a damaged target.
 *
 * Only this library's own temporary files are considered (named
 * `.{name}.{pid}-…-{random}.atomic-tmp`, regular files: a link is never
 * followed or removed, and in a sticky directory such as `/tmp` only the
 * caller's own files are removed, even by root). Of those:
 * - a file whose writer (process and thread, by boot, PID namespace and
 *   start time) still runs is never removed, nor a file this process has in
 *   flight;
 * - a file whose writer is proven gone is removed once `olderThan` old;
 * - a file whose writer cannot be judged (another machine, boot or PID
 *   namespace, no /proc, Deno without `--allow-all`) is removed only once
 *   `olderThanIfUnknown` old: an unknown answer never counts as gone.
 *
 * Lock files left by {@linkcode lockFile} and {@linkcode updateFileAtomic}
 * holders that died (`.{name}.atomic-lock`) are removed too, once
 * `olderThan` old and provably stale (their holder is gone, or their lease
 * ran out), through the lock's own race-free reclaim; a lock this user may
 * not remove (another user's, in a sticky directory) or whose reclaim
 * mutex's name is taken by something not ours is left alone. So is a file
 * this user may not remove, or that has something mounted onto it: one
 * entry never stops the sweep. A failure of
 * the file system itself (`EIO`, `ENOSPC`, `EROFS`, …) fails it, naming the
 * operation and the path: at once on a temporary file, and on a lock once
 * the rest is swept (removing the temporary files may free a full disk). In
 * a sticky directory only the caller's own files and locks go, and none
 * where the runtime will not say who runs it (Deno without `--allow-sys`).
 *
 * So are the tickets that waiters killed while they waited for such a lock
 * left in its queue directory (`.{name}.atomic-queue`), judged as
 * temporary files, and the directory once it is empty; but only where
 * nobody but the caller (and root) can rename the queue directory (the
 * caller owns it and the directory around it, or root owns that, and
 * neither its group nor others may write it): elsewhere it could be swapped
 * for a link mid-sweep. Never in a shared sticky directory such as `/tmp`,
 * where the lock makes no queue directory.
 *
 * So is a closet left by a crash (a directory of the writer's alone, named
 * like a temporary file but ending in `.atomic-closet`, where a file with
 * set-ID bits is given to its new
 * owner: see the README, "Permissions, ownership and the umask"), with the
 * file in it, judged as a temporary file; only the caller's own, where
 * nobody but the caller (and root) can rename it, or in a sticky directory
 * that the caller or root owns.
 *
 * Other subdirectories are not searched, nor removed, even one named like
 * a temporary file. The sweep installs no listener of
 * any kind.
 *
 * @param dir The directory to sweep (a string or a `file:` URL).
 * @param options Which files are old enough; see {@linkcode RemoveStaleTempsOptions}.
 * @returns The absolute paths of the files (and emptied queue directories and closets) removed, lock files first (each followed by its dead holder's second name for it), then by name (a queue directory after its tickets, a closet after the file in it).
 * @throws {TypeError} If `dir` is not a non-empty string or `file:` URL, or `options` or an age has the wrong type.
 * @throws {RangeError} If an age is negative or NaN.
 * @throws {AtomicWriteError} With the same `code` on every runtime (`ENOENT`, `ENOTDIR`, `EACCES`, …) if the directory cannot be read, or a stale file cannot be removed (or a dead holder's lock read or reclaimed) for a reason other than its owner (`EIO`, `ENOSPC`, `EROFS`, …), or the runtime withholds the permission to remove it (`EACCES`, naming Deno's `--allow-write` or Node's `--allow-fs-write`).
 *
 * @example Usage
 * ```ts
 * import { removeStaleTemps } from "@x/atomic";
 *
 * const dir = await Deno.makeTempDir();
 * // At start-up, before writing to files in `dir` again:
 * const removed = await removeStaleTemps(dir, { olderThan: 10 * 60 * 1000 });
 * console.log(`removed ${removed.length} stale temporary files`);
 * ```
 */
export function removeStaleTemps(
  dir: string | URL,
  options?: RemoveStaleTempsOptions,
): Promise<string[]> {
  let steps: Steps<string[]>;
  try {
    steps = plan(dir, options);
  } catch (error) {
    return Promise.reject(error);
  }
  return runAsync(steps, currentContext().adapter.async);
}

/**
 * Removes the temporary files that writers killed mid-write left in `dir`,
 * synchronously. Removes exactly what {@linkcode removeStaleTemps} removes:
 * only our own temporary files, of writers that are gone (or cannot be
 * judged), old enough.
 *
 * @param dir The directory to sweep (a string or a `file:` URL).
 * @param options Which files are old enough; see {@linkcode RemoveStaleTempsOptions}.
 * @returns The absolute paths of the files (and emptied queue directories and closets) removed, lock files first (each followed by its dead holder's second name for it), then by name (a queue directory after its tickets, a closet after the file in it).
 * @throws {TypeError} If `dir` is not a non-empty string or `file:` URL, or `options` or an age has the wrong type.
 * @throws {RangeError} If an age is negative or NaN.
 * @throws {AtomicWriteError} With the same `code` on every runtime if the directory cannot be read, or a stale file cannot be removed (or a dead holder's lock read or reclaimed) for a reason other than its owner.
 *
 * @example Usage
 * ```ts
 * import { removeStaleTempsSync } from "@x/atomic";
 *
 * const dir = Deno.makeTempDirSync();
 * const removed = removeStaleTempsSync(dir, { olderThan: 0 });
 * console.log(removed); // []
 * ```
 */
export function removeStaleTempsSync(
  dir: string | URL,
  options?: RemoveStaleTempsOptions,
): string[] {
  return runSync(plan(dir, options), currentContext().adapter.sync);
}
