/**
 * One atomic replacement's state and the helpers every step of the algorithm
 * shares: how a failure becomes an {@linkcode AtomicWriteError}, running a
 * request under that rule, and removing the temporary file.
 */
import { basename, dirname, sep } from "node:path";
import { AtomicWriteError } from "./atomic_write_error.ts";
import { codeOf } from "./_error_code.ts";
import type { ResolvedOptions } from "./_validate.ts";
import type { TempOwner } from "./_temp_name.ts";
import type { Ticket } from "./_path_queue.ts";
import type { KnownFiles } from "./_known_files.ts";
import type { HeldDirectories } from "./_held_directories.ts";
import type {
  DirectoryHandle,
  EntryInfo,
  OpenFile,
  ProcessIds,
  RuntimeAdapter,
  StickyProtections,
} from "./runtime/types.ts";
import {
  performOr,
  type Request,
  request,
  settle,
  type Settled,
  type Steps,
} from "./_steps.ts";

/** What finding a target as the kernel would needs to know of the process. */
export interface Writer {
  /** Who writes; `null`: unknown (the runtime would not tell). */
  ids: ProcessIds | null;
  /** The kernel's sticky-directory protections, read when needed. */
  protections(): StickyProtections;
  /** Throws the runtime's refusal if its permissions forbid writing `path` (`RuntimeAdapter.checkAccess`). */
  checkWrite(path: string): void;
}

/** The {@linkcode Writer} this process is, as `adapter` tells. */
export function writerOf(adapter: RuntimeAdapter): Writer {
  return {
    ids: adapter.ids(),
    protections: () => adapter.protections(),
    checkWrite: (path) => adapter.checkAccess(path, "write"),
  };
}

/** Facts about the process the algorithm needs. */
export interface Host extends Writer {
  /** Who makes the temporary files, as their names say. */
  owner: TempOwner;
  /** Whether the process may open any file whatever its bits (`RuntimeAdapter.overridesPermissions`), read when asked. */
  overridesPermissions(): boolean;
  renameRetryCodes: ReadonlySet<string>;
}

/**
 * A target being found as the kernel would (`_resolve_target.ts`): by a
 * replacement, or by the lock of an update, which must lock the very file
 * the replacement will find.
 */
export interface Resolution {
  /** The absolute path the caller named. */
  readonly target: string;
  /** The file actually replaced: `target` with symbolic links followed. */
  final: string;
  /** Whether the new content is in place (never, while resolving). */
  readonly committed: boolean;
  readonly host: Writer;
  /**
   * What the caller asked for, as an error's message starts (`lock
   * "/srv/f"`), where it is not a replacement of `target`.
   */
  task?: string;
  /**
   * The `stat` of `final`'s directory, where it was made alongside another
   * step (`null`: it failed); the group a new file there gets depends on it
   * (`_new_file_group.ts`).
   */
  directory?: EntryInfo | null | undefined;
  /**
   * A write under a lock: the file locked (its path with links followed).
   * The write replaces that file or none: a link at its name now, or a path
   * that leads elsewhere now, fails with `EAGAIN` (the file it would lead
   * to is not locked).
   */
  locked?: string | undefined;
}

/** A fresh {@linkcode Resolution} of `target` for `writer`. */
export function resolution(target: string, writer: Writer): Resolution {
  return { target, final: target, committed: false, host: writer };
}

/** The state of one atomic replacement, shared by its phases. */
export interface Replacement extends Resolution {
  /** The temporary file, while it exists. */
  temp: string | null;
  /** When `temp` was named (`monotonic()`): a long write is located before its close (see `seal`). */
  tempSince: number;
  /**
   * Where the descriptor said the temporary file was, if asked: a directory
   * above it may have been renamed meanwhile, and `discard` removes it there.
   */
  located: string | null;
  /** The temporary file, while it is open. */
  file: OpenFile | null;
  /**
   * Which file the temporary file is (`EntryInfo.id`), noted before it is
   * closed to wait for its turn (`sealToWait`): opened again by name, it
   * must be that file.
   */
  tempId: string | null;
  /**
   * The target's directory, held open from before the target is looked at
   * in it until the rename is made durable, where the runtime can name
   * files through it (see {@linkcode named}); `null`: by path.
   */
  held: DirectoryHandle | null;
  /** Whether `held` was opened by writes in flight before this one, and shared. */
  shared: boolean;
  /**
   * A write under a lock (`locked`): the directory its lock holds
   * (`_lock_directory.ts`), where it replaces the file locked, whatever the
   * path leads to meanwhile; `null` for other writes, and where the lock
   * names its files by path.
   */
  pinned: DirectoryHandle | null;
  /** The directories this thread's writes hold open, shared by the writes to one directory. */
  readonly directories: HeldDirectories;
  /** The mode the temporary file was created with (before the umask). */
  createdMode: number;
  /**
   * Permission bits still to set, with the first write or before the
   * fsync (see `matchOwnerAndMode`): setting them only widens what the file
   * allows, or sets again the set-ID bits that a write clears.
   */
  pendingMode: number | null;
  /**
   * The target as found when the temporary file's owner and bits were
   * matched to it (`null`: there was none); looked at again after earlier
   * writes of this process to the file renamed (`matchAgain`).
   */
  matched: EntryInfo | null;
  /**
   * The writer's own directory beside the target that the temporary file
   * is in for its last steps, if any (`_closet.ts`): its path, the
   * directory held open (`null` where none can be), and its identity.
   */
  closet:
    | { path: string; held: DirectoryHandle | null; id: string | null }
    | null;
  /**
   * For a file that gets set-ID bits: the target whose owner it is given
   * only once its content is written (`giveOwnerLate`); `null` otherwise.
   */
  ownerLater: { readonly entry: EntryInfo | null } | null;
  /**
   * The owner this write gave the temporary file (`uid`), and the writer's
   * own uid (`from`): a writer with `CAP_CHOWN` but not `CAP_FOWNER` may not
   * set the ACL and bits of a file that is another's, and takes it back for
   * them (`takenBack`), to give it away again before the fsync (`takeBack`
   * in `_owner_and_mode.ts`); `null` while the file is the writer's own.
   */
  givenAway: { readonly from: number; uid: number; takenBack: boolean } | null;
  /** Whether the owner and bits are being matched again (the temporary file's owner is then no longer its creator's). */
  rematching: boolean;
  /** Whether the new content is in place. */
  committed: boolean;
  /** How to write; an `AtomicFile`'s commit puts in a signal that its `abort()` aborts too. */
  options: ResolvedOptions;
  readonly host: Host;
  /** Temporary files of this process that exist now, removed at exit. */
  readonly inFlight: Set<string>;
  /** Where this process last found regular files: the fast path's guesses. */
  readonly knownFiles: KnownFiles;
  /** This write's place among writes to the same path, for the async API. */
  ticket: Ticket | null;
  /** What an update checks of its lock before the rename; throws to stop it. */
  guard: Guard | null;
  /** The guard's look made alongside the fsync, if any. */
  looked: Looked | null;
  /** An update's looks at its lock's directory and at the one its path leads to, made alongside the fsync, if any (see `stillLocked` in `_replace.ts`). */
  placed: Placed | null;
}

/**
 * How old a look made alongside the fsync (at an update's lock, at its
 * directory) may be at the rename; an older one (a slow fsync, a wait for
 * earlier writes to the file) is made again.
 */
export const FRESH_LOOK_MS = 50;

/** The directory an update's lock holds and the one its path leads to, looked at together, and when (by `monotonic()`). */
export interface Placed {
  readonly held: Settled<EntryInfo | null>;
  readonly path: Settled<EntryInfo | null>;
  readonly since: number;
}

/**
 * What an update checks of its lock before its rename (`_lock_hold.ts`):
 * a look at the lock file, made alongside the temporary file's fsync, and
 * the check made just before the rename; and what it says once renamed.
 */
export interface Guard {
  /** The looks at the lock file (its name, and the holder's own). */
  looks(): Request<EntryInfo | null>[];
  /** Throws if the lock is no longer held; `looked` is the look made alongside the fsync, if any. */
  check(looked: Looked | null): Steps<void>;
  /**
   * Told once the rename is done, before the directory's fsync: the lock may
   * go, its release running alongside that fsync.
   */
  committed(): void;
}

/** The looks at the lock file, and when they were asked for (by `monotonic()`). */
export interface Looked {
  readonly entries: Settled<EntryInfo | null>[];
  readonly since: number;
}

/** The {@linkcode AtomicWriteError} for a runtime error `cause` of `operation` on `path`. */
export function failure(
  s: Resolution,
  operation: string,
  path: string,
  cause: unknown,
): AtomicWriteError {
  if (cause instanceof AtomicWriteError) return cause;
  return new AtomicWriteError(
    {
      code: codeOf(cause),
      operation,
      path,
      target: s.target,
      cause,
      task: s.task,
    },
    s.committed,
  );
}

/** A failure the algorithm itself detects: no runtime error behind it, or one (`cause`) that it reads otherwise. */
export function problem(
  s: Resolution,
  code: string,
  operation: string,
  path: string,
  reason: string,
  cause?: unknown,
): AtomicWriteError {
  return new AtomicWriteError({
    code,
    operation,
    path,
    target: s.target,
    reason,
    ...(cause === undefined ? {} : { cause }),
    task: s.task,
  });
}

/** Runs one request; a failure becomes an {@linkcode AtomicWriteError} naming `operation` and `path`. */
export function* act<T>(
  s: Resolution,
  operation: string,
  path: string,
  req: Request<T>,
): Steps<T> {
  return yield* performOr(req, (error) => failure(s, operation, path, error));
}

/** Backoff for transient failures (Windows scanners) of a rename, or of a failed write's removal: about 1.3 s in all. */
export const RETRY_DELAYS_MS = [5, 10, 20, 40, 80, 160, 320, 640] as const;

/**
 * How a request names `path`, the target or the temporary file: through
 * the directory held open (`s.held`), so that every step acts in the
 * directory the target was looked at in, even if a link to another
 * directory was swapped in for one above it meanwhile (the kernel follows
 * the held directory's path to the directory itself, never by name); by
 * its own path where none is held.
 */
export function named(s: Replacement, path: string): string {
  const closet = s.closet;
  if (closet !== null && dirname(path) === closet.path) {
    // The file in its closet: through the closet held, if it is.
    const dir = closet.held?.path ?? named(s, closet.path);
    return inDirectory(dir, basename(path));
  }
  return s.held === null ? path : inDirectory(s.held.path, basename(path));
}

/** Lets go of the directory held open, if any, closed if no other write holds it; never throws. */
export function* release(s: Replacement): Steps<void> {
  const held = s.held;
  if (held === null) return;
  s.held = null;
  s.shared = false;
  if (s.directories.release(held)) yield* settle(request("close", held.file));
}

/**
 * Closes and removes the temporary file, if any, and closes the directory
 * held open; never throws.
 */
export function* discard(s: Replacement): Steps<void> {
  yield* removeTemp(s);
  yield* release(s);
}

/**
 * Where the temporary file is to be removed: in the directory held open,
 * or by path, where the descriptor says it is now if a directory above it
 * was renamed; but never under another name than its own, which only
 * someone who may write in its directory gave it (and a later swap of a
 * directory above could make that name lead anywhere).
 */
function whereToRemove(
  s: Replacement,
  temp: string,
  found: string | null,
): string {
  if (s.held !== null) return named(s, temp);
  return found !== null && basename(found) === basename(temp) ? found : temp;
}

/** Closes and removes the temporary file, if any; never throws. */
export function* removeTemp(s: Replacement): Steps<void> {
  const { file, temp } = s;
  s.file = null;
  s.temp = null;
  let found = s.located;
  s.located = null;
  if (file !== null) {
    if (s.held === null) {
      // The descriptor knows where the file is, even if a directory was renamed.
      const located = yield* settle(request("locate", file));
      if (located.ok && located.value !== null) found = located.value;
    }
    yield* settle(request("close", file));
  }
  if (temp !== null) {
    const path = whereToRemove(s, temp, found);
    let removed = yield* settle(request("remove", path));
    // The scanner that made a rename fail (Windows) may hold the file a
    // while longer: its removal is retried as the rename was.
    for (const delay of RETRY_DELAYS_MS) {
      if (removed.ok || !s.host.renameRetryCodes.has(codeOf(removed.error))) {
        break;
      }
      yield* settle(request("sleep", delay));
      removed = yield* settle(request("remove", path));
    }
    // If removal failed for another reason, the exit cleanup or
    // removeStaleTemps() still knows the name.
    if (removed.ok || codeOf(removed.error) === "ENOENT") {
      s.inFlight.delete(temp);
    }
  }
  yield* leaveCloset(s);
}

/** Removes the closet (`_closet.ts`), if any, once the file in it has left; never throws. */
export function* leaveCloset(s: Replacement): Steps<void> {
  const closet = s.closet;
  if (closet === null) return;
  s.closet = null;
  const path = named(s, closet.path);
  if (closet.held !== null) {
    yield* settle(request("close", closet.held.file));
    // Only the closet made: not a directory someone put at its name.
    const found = yield* settle(request("lstat", path));
    if (!found.ok || found.value?.id !== closet.id) return;
  }
  yield* settle(request("removeDir", path));
}

/** Runs `steps`; on any failure discards the temporary file and rethrows. */
export function* orDiscard<T>(s: Replacement, steps: Steps<T>): Steps<T> {
  try {
    return yield* steps;
  } catch (error) {
    yield* discard(s);
    throw error;
  }
}

/**
 * `name` inside `dir`, joined as text without normalizing `..`: the kernel
 * resolves `alias/..` through the link, where `path.join` would drop both.
 */
export function inDirectory(dir: string, name: string): string {
  return dir.endsWith(sep) ? dir + name : dir + sep + name;
}
