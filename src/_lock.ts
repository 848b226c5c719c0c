/**
 * The cross-process lock protocol, written once as steps (see `_steps.ts`)
 * and driven synchronously or asynchronously like the write itself. Deno,
 * Bun and Node processes all speak it, so they exclude each other.
 *
 * ## On disk
 * The lock of `dir/name` is the file `dir/.name.atomic-lock`
 * (`_lock_name.ts`). A holder makes it as a temporary file named after
 * itself (`dir/..name.atomic-lock.{writer}-{random}.atomic-tmp`), writes a
 * one-line record of itself into it (`_lock_record.ts`), and links it to the
 * lock's name: `link(2)` fails if the name exists, so of all the processes
 * that try at once exactly one gets it, as with O_EXCL. The file keeps both
 * names while it is held: the second one says who holds it even when the
 * record is lost (a power cut; see `_lock_record.ts`). Where the file system
 * has no hard links (FAT), the lock file is created with O_CREAT|O_EXCL
 * under the lock's name instead, and has only the record. Its modification
 * time is the holder's heartbeat. The target is found as the write finds it
 * (`_resolve_target.ts`): a symbolic link locks the file the write would
 * replace, and what the write refuses is refused before any lock is taken.
 * The lock file is made before the target exists if need be.
 *
 * ## Taking over a stale lock without a race
 * Removing a stale lock by name is a race: between "I judged it stale" and
 * `unlink`, the lock may have been removed and re-created by a live process,
 * and two waiters that both judged it stale would both go on to believe they
 * hold the lock (proper-lockfile's issue #121). Here:
 *
 * 1. a waiter that judges the lock with token `T` stale first creates the
 *    reclaim mutex `.name.T.atomic-reclaim` with O_EXCL. Of all the waiters
 *    that judged *that* lock stale, exactly one succeeds; the others go back
 *    to waiting;
 * 2. holding the mutex, it looks at the lock again, and goes on only if it
 *    is still the same file (same device and inode, same token) and still
 *    stale (a late heartbeat refreshes it);
 * 3. it renames the lock onto its mutex (the lock file is never removed by
 *    name while it might be someone else's), checks that what it moved is
 *    the file it judged (if not, it links it back: link(2) never replaces),
 *    and removes it;
 * 4. then, like everybody, it competes for the lock (a `link`, or an O_EXCL
 *    create where there are no hard links).
 *
 * A waiter that comes late with an old judgement wins the mutex, but step 2
 * finds a different lock and stops; one that finds at the mutex's name the
 * lock itself, moved there (step 3), stops too. A mutex whose holder died
 * is itself reclaimed the same way (its record names it); the depth is
 * bounded. A lock whose reclaimer died between steps 3 and 4 stays at the
 * mutex's name, for the sweep (`sweepLock`, `_lock_reclaim.ts`). The
 * record names the reclaiming thread too (`file`: a temporary name of its,
 * never made), so a worker thread terminated while it held the mutex is
 * judged gone at once, as a lock's holder is, and not after the lease.
 *
 * ## Losing a lock, and fencing
 * A holder that is alive but stalled (a blocked event loop, a suspended
 * machine) past its lease may have its lock taken over. It never throws from
 * a timer: its heartbeat finds the lock gone, or finds that its own lease
 * ran out, marks the lock lost and aborts the lock's `signal`. A holder
 * never renews a lease that already ran out, even if the file is still its
 * own: a waiter may be between steps 2 and 3. An update checks the lock
 * just before its rename (`guard`, `_lock_hold.ts`): at least `margin` ms of
 * lease left, and still its own file (looked at alongside the fsync of its
 * data, and again if that was more than 50 ms before or did not find it:
 * by its identity while the holder's own name pins it, else by its token;
 * see `isSameLock`). The remaining window
 * is that check and the rename itself: a holder that stalls for more than `margin` between the
 * two can still commit after its lock was taken over. Across hosts, clocks
 * must also agree within `margin`.
 *
 * A holder releases its lock by name (`unlink`) only while it has at least
 * `margin` of lease left, when nobody may judge it stale; later, it goes
 * through the reclaim mutex like a waiter. The window is the same as the
 * update's: a holder that stalls for more than `margin` between that check
 * and the `unlink` removes the next holder's lock (which finds it gone at its
 * next heartbeat or guard). Releasing through the mutex every time would
 * close it, at several round trips per release (README, Limits).
 *
 * ## The files
 * This file holds what every part shares: the plan, the held lock, the
 * lease, and how a lock file is made. Then, one concept each:
 * `_lock_look.ts` (seeing a lock and its holder), `_lock_reclaim.ts` (taking
 * over a stale lock without a race, and sweeping), `_lock_acquire.ts` (one
 * try at the lock, and the pause before the next), `_lock_queue.ts` (the
 * line of waiters, so that a release wakes one of them), `_lock_wait.ts`
 * (the waiting between tries, synchronous or asynchronous), `_lock_hold.ts`
 * (heartbeat, guard, release).
 *
 * @module
 */
import { basename, dirname } from "node:path";
import { AtomicWriteError } from "./atomic_write_error.ts";
import { codeOf, errorCode } from "./_error_code.ts";
import { MAX_TIMER_MS } from "./_run.ts";
import { inDirectory } from "./_replacement.ts";
import { lockName } from "./_lock_name.ts";
import { nameTaken } from "./_name_taken.ts";
import { isSharedSticky } from "./_sticky.ts";
import type { HeldDirectories } from "./_held_directories.ts";
import type { InFlightFiles } from "./_context.ts";
import { type HoldsDirectory, shown } from "./_lock_directory.ts";
import type { Ticket } from "./_lock_queue.ts";
import { type Checks, encodeRecord, type LockRecord } from "./_lock_record.ts";
import { tempName } from "./_temp_name.ts";
import {
  all,
  both,
  performOr,
  type Request,
  request,
  settle,
  type Settled,
  type Steps,
} from "./_steps.ts";
import type {
  EntryInfo,
  FileContent,
  OpenFile,
  RuntimeAdapter,
} from "./runtime/types.ts";

/**
 * The default lease, in ms. A holder on this host that dies is detected at
 * once (dead pid, reused pid, other boot last touched before this one), so
 * the lease only decides for
 * holders elsewhere (another host on a network file system, another pid
 * namespace) and for live holders that stall. 10 s is long enough that a
 * garbage-collection pause, a busy machine or a slow network file system
 * does not cost a live holder its lock, and short enough that a crashed
 * holder on another host blocks its waiters for seconds, not minutes.
 */
export const DEFAULT_LEASE_MS = 10_000;
/** The heartbeat runs every `lease / HEARTBEATS_PER_LEASE` ms (2 s by default). */
export const HEARTBEATS_PER_LEASE = 5;
/** The fencing margin is `lease / MARGIN_PER_LEASE` ms (2 s by default). */
const MARGIN_PER_LEASE = 5;
/**
 * The shortest lease a holder can keep, in ms. Its lease starts before the
 * lock file is made, and after each heartbeat (every `lease / 5`) the holder
 * stops trusting its lock once less than the margin (`lease / 5`) is left:
 * the next heartbeat must come, look at the lock and renew it within the
 * `3 * lease / 5` between, through a timer that may fire late and
 * file-system calls that wait for the runtime's thread pool, on a machine
 * that may be busy or collecting garbage. On a busy two-core machine, with
 * no other holder, one lock in ten of a 100 ms lease and about half of
 * those of 5 to 50 ms were lost within milliseconds, on every runtime; 1 s
 * leaves 600 ms for that, and keeps a 200 ms margin for the check before an
 * update's rename.
 */
export const MIN_LEASE_MS = 1_000;

/** The lock's timers never ask for more than {@linkcode MAX_TIMER_MS}. */
export function timerDelay(ms: number): number {
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}

/** The mode of lock files: anyone may read who holds them. */
export const LOCK_MODE = 0o644;
/**
 * The mode of lock files and reclaim mutexes in a shared sticky directory
 * (`/tmp`): owner-only. Their record's token names the reclaim mutex, and
 * another user who could read it could make something at that name first,
 * where nobody but its maker (or root) may remove it, and keep a dead
 * holder's lock from ever being reclaimed. There, no other user reads the
 * lock anyway (a waiter refuses another user's file, the rule of
 * `fs.protected_regular`), unless the holder owns the directory: such a
 * waiter judges the holder without its record (by its own name, and the
 * lease).
 */
export const PRIVATE_LOCK_MODE = 0o600;

/** The mode of the lock files made in the directory `dir` (described by `stat`). */
export function lockModeIn(dir: EntryInfo | null): number {
  return dir !== null && isSharedSticky(dir, true)
    ? PRIVATE_LOCK_MODE
    : LOCK_MODE;
}

/** What one lock acquisition is about. */
export interface LockPlan extends HoldsDirectory {
  /** The path the caller named. */
  readonly target: string;
  readonly lease: number;
  /** ms to wait; `Infinity`: wait as long as it takes. */
  readonly timeout: number;
  readonly signal: AbortSignal | undefined;
  readonly mkdir: boolean;
  readonly adapter: RuntimeAdapter;
  /** Asynchronous waiters also wake when the lock file changes (`runtime/_watch.ts`); sync ones only poll. */
  readonly watch: boolean;
  /** Read the locked file as soon as the lock is taken (an update will need it). */
  readonly read: boolean;
  /**
   * The update's write only creates (`overwrite: false`): anything at the
   * name but a regular file fails as that write would, with `EEXIST`, before
   * the lock is made. A regular file there is read for `fn` as usual (which
   * may leave it, returning `undefined`); only a write fails on it.
   */
  readonly creating?: boolean;
  /**
   * The files this process removes at exit, where a waiter's own file and
   * its ticket go while it waits; a held lock's names go there as it is
   * taken, released at exit (`_lock_acquire.ts`).
   */
  readonly inFlight?: InFlightFiles;
  /**
   * The identities of the lock files this thread holds (see `Context`):
   * one goes in as soon as its lock is taken, before the steps that end the
   * acquisition, so that a synchronous lock of the same file meanwhile
   * fails with `EDEADLK` rather than wait for it.
   */
  readonly held?: Set<string>;
  /** The directories this thread holds open, where a held lock's directory is counted (`_lock_directory.ts`). */
  readonly directories?: HeldDirectories;
}

/**
 * A lock this process holds. Its state changes only through
 * `markLost` and `release` (`_lock_hold.ts`):
 *
 * | from | event                                            | to       |
 * | ---- | ------------------------------------------------ | -------- |
 * | held | heartbeat or guard: file gone, or lease ran out  | lost     |
 * | held | `release()` within the lease: unlink by name     | released |
 * | held | `release()` past the margin: reclaim via mutex   | released |
 * | lost | `release()`: reclaim via mutex if still its file | released |
 */
export interface Held {
  readonly plan: LockPlan;
  /** The file actually locked: the target with symbolic links followed. */
  readonly final: string;
  /** The lock file, as the lock's steps name it (through its directory held, if it is: `_lock_directory.ts`). */
  readonly path: string;
  /** The holder's own name for the lock file (see the module doc); `null` without hard links. */
  readonly holder: string | null;
  readonly record: LockRecord;
  /** The lock file's identity (device and inode). */
  readonly id: string;
  /**
   * The lock file, kept open only without hard links (`holder` is `null`):
   * its heartbeat's way to the file, which its name is not once another
   * process may have taken it over. A holder's own name is its way instead.
   */
  file: OpenFile | null;
  /** When the last heartbeat (or the creation) was made, by `wallClock()`. */
  beatAt: number;
  /** Why the lock was lost, once it was. */
  lost: AtomicWriteError | null;
  released: boolean;
  /** Whether its release has removed its files (its directory is let go last). */
  removed?: boolean;
  /** Called once when the lock is found lost. */
  onLost?: () => void;
  /**
   * Ends this thread's turn for the file (`_lock_wait.ts`), so that its next
   * acquisition of it may go on: once the lock is released (after its files
   * are gone), or found lost. Calling it again does nothing.
   */
  leaveLine?: () => void;
  /** The locked file's content read as the lock was taken, with `plan.read`. */
  initial: Settled<FileContent | null> | null;
  /** Its place in the line of waiters, if it waited in it: left after the lock's name (`_lock_queue.ts`). */
  ticket: Ticket | null;
}

/** What a lock plan asks for, as its errors' messages start: `lock "…"` or `update "…"`. */
export function taskOf(plan: LockPlan): string {
  return `${plan.read ? "update" : "lock"} "${plan.target}"`;
}

/** A failure of the lock of `plan`, as an {@linkcode AtomicWriteError}. */
export function lockError(
  plan: LockPlan,
  code: string,
  operation: string,
  path: string,
  reason?: string,
  cause?: unknown,
): AtomicWriteError {
  return new AtomicWriteError({
    code,
    operation,
    path: shown(plan, path),
    target: plan.target,
    // Nothing is being replaced yet: the message says what was asked.
    task: taskOf(plan),
    reason,
    cause,
  });
}

/** Runs one request; a failure becomes an {@linkcode AtomicWriteError}. */
export function act<T>(
  plan: LockPlan,
  operation: string,
  path: string,
  req: Request<T>,
): Steps<T> {
  return performOr(
    req,
    (error) =>
      error instanceof AtomicWriteError ? error : lockError(
        plan,
        codeOf(error),
        operation,
        path,
        undefined,
        error,
      ),
  );
}

export function checks(adapter: RuntimeAdapter): Checks {
  return {
    me: adapter.identity(),
    isAlive: (pid) => adapter.isProcessAlive(pid),
    processStart: (pid) => adapter.processStart(pid),
    bootTime: () => adapter.bootTime(),
    writerState: (writer) => adapter.writerState(writer),
  };
}

/** The margin of lease a holder keeps before it stops trusting its lock. */
export function marginOf(lease: number): number {
  return lease / MARGIN_PER_LEASE;
}

/** The holder's own name for the lock file `lock`: a temporary name naming this thread. */
export function holderPathFor(plan: LockPlan, lock: string): string {
  return inDirectory(
    dirname(lock),
    tempName(basename(lock), plan.adapter.writer()),
  );
}

/** What {@linkcode createRecord} made. */
export interface Made {
  file: OpenFile;
  id: string;
  /** The read of `read`, if asked for. */
  read: Settled<FileContent | null> | null;
  /** The link to `link`, if asked for. */
  linked: Settled<void> | null;
}

/** What else {@linkcode createRecord} does, and how its failures are named. */
export interface RecordWork {
  /** The file's creation, if already made (speculatively). */
  attempt?: Settled<OpenFile> | undefined;
  /** A file to read alongside the write (the lock is the record's file). */
  read?: string | undefined;
  /** A name to link the record's file to once the record is written (the lock). */
  link?: string | undefined;
  /** The operation its failures name, for each step; by default "create lock", "write lock", "stat lock". */
  operation?: string | undefined;
}

/**
 * Creates `path` with O_EXCL and `mode` and writes `record` into it; `null`
 * if it exists. Alongside the write, it can read a file; once the record is
 * written, it can link `path` to the lock's name (`work`).
 */
export function* createRecord(
  plan: LockPlan,
  path: string,
  record: LockRecord,
  mode: number,
  work: RecordWork = {},
): Steps<Made | null> {
  const { attempt, read, link, operation } = work;
  let created = attempt ??
    (yield* settle(request("createExclusive", path, mode)));
  if (!created.ok && errorCode(created.error) === "ENOENT" && plan.mkdir) {
    const dir = dirname(path);
    yield* act(plan, "create directory", dir, request("mkdir", dir));
    created = yield* settle(request("createExclusive", path, mode));
  }
  if (!created.ok) {
    if (yield* nameTaken(path, created.error)) return null;
    throw lockError(
      plan,
      codeOf(created.error),
      operation ?? "create lock",
      path,
      undefined,
      created.error,
    );
  }
  const file = created.value;
  const bytes = encodeRecord(record);
  // The identity can be read at once: nobody else removes a fresh lock. An
  // update's read of the locked file goes alongside, and so does the mode,
  // set whatever the umask (077 would make every record unreadable to the
  // other users' waiters, who could then never judge a stalled holder).
  // (A file system that keeps no modes may refuse the chmod: no matter.)
  const [first, entry, , readDone] = (yield* all([
    request("write", file, bytes),
    request("lstat", path),
    request("chmod", file, path, mode),
    ...(read !== undefined ? [request("readFile", read)] : []),
  ])) as [
    Settled<number>,
    Settled<EntryInfo | null>,
    Settled<void>,
    Settled<unknown>?,
  ];
  // A short write (a file-size limit, a full disk) is resumed, as the
  // content's is: the next write's failure is the error.
  let written = first;
  let done = written.ok ? written.value : 0;
  while (written.ok && written.value > 0 && done < bytes.length) {
    written = yield* settle(request("write", file, bytes.subarray(done)));
    if (written.ok) done += written.value;
  }
  const whole = written.ok && done === bytes.length;
  if (whole && entry.ok && entry.value) {
    return {
      file,
      id: entry.value.id,
      read: read === undefined ? null : readDone as Settled<FileContent | null>,
      // Only once the record is written: the lock's name is never seen
      // without it. (On sshfs, whose client caches a name's attributes, a
      // link made alongside the write could fix the lock's size at 0 for
      // the cache's 20 s, and its own holder could no longer read its
      // record: the lock looked taken over.)
      linked: link === undefined
        ? null
        : yield* settle(request("link", path, link)),
    };
  }
  yield* both(request("close", file), request("remove", path));
  const cause = !written.ok
    ? written.error
    : whole && !entry.ok
    ? entry.error
    : null;
  // Gone as soon as made: removed, or its directory with it.
  const gone = whole && cause === null && entry.ok && entry.value === null;
  throw lockError(
    plan,
    errorCode(cause) ?? (gone ? "ENOENT" : "EIO"),
    operation ?? (whole ? "stat lock" : "write lock"),
    path,
    cause !== null
      ? undefined
      : gone
      ? "it was removed as soon as it was made"
      : "the record was not written whole",
    cause ?? undefined,
  );
}

/**
 * The lock file for the (final) target `final`, beside it as the kernel
 * finds it: `alias/../f` stays as it is (see {@linkcode inDirectory}).
 */
export function lockPathFor(final: string): string {
  return inDirectory(dirname(final), lockName(basename(final)));
}
