/**
 * Taking the lock: one try at a time, as steps. Between tries the waiter
 * pauses, which is not a step (`_lock_wait.ts` sleeps or watches); a try
 * says how long to pause.
 */
import { basename, dirname } from "node:path";
import type { AtomicWriteError } from "./atomic_write_error.ts";
import { codeOf } from "./_error_code.ts";
import { resolution, writerOf } from "./_replacement.ts";
import { resolveTarget } from "./_resolve_target.ts";
import {
  describeHolder,
  type LockRecord,
  newRecord,
  type Sighting,
  staleReason,
} from "./_lock_record.ts";
import {
  all,
  both,
  request,
  settle,
  type Settled,
  type Steps,
} from "./_steps.ts";
import type { EntryInfo, FileContent, OpenFile } from "./runtime/types.ts";
import {
  act,
  checks,
  createRecord,
  HEARTBEATS_PER_LEASE,
  type Held,
  holderPathFor,
  LOCK_MODE,
  lockError,
  lockModeIn,
  lockPathFor,
  type LockPlan,
  type Made,
  taskOf,
} from "./_lock.ts";
import { look } from "./_lock_look.ts";
import { ahead, join, leave, refresh, type Ticket } from "./_lock_queue.ts";
import { reclaim } from "./_lock_reclaim.ts";
import { letGo, through } from "./_lock_directory.ts";
import { openToHold } from "./_open_directory.ts";
import { nameTaken } from "./_name_taken.ts";
import { releaseAtExit } from "./_lock_hold.ts";
import { runSync } from "./_run.ts";
import { monotonic, wallClock } from "./_clock.ts";

/**
 * Waiting: the first pause and its growth; the longest pause of a young
 * wait for a waiter that only tries (a watch failed) and for one that is
 * woken early (a watch, or a synchronous waiter's cheap polls of what it
 * waits on: see `_lock_wait.ts`); the longest of any wait, reached after 20
 * times as long; the same two for a waiter lined up behind another
 * (`_lock_queue.ts`), whose tries on its timer only guard against a line
 * gone wrong; how often the holder is judged.
 *
 * Polling waiters slow the holder down: with 6 Node processes updating one
 * file on 2 cores, synchronous waiters that polled every 1 ms made the
 * holder's own read and write 1.6-2.3x slower than alone, and polls every
 * 10 ms gave 1.2-2.9x the update rate of 1 ms polls (3 alternating rounds);
 * polls every 5 ms cost 10-20% less CPU per update than 1 ms, at equal or
 * better rates (3 rounds, load 7). The next holder is most often the
 * process that just released (it tries at once) or a watching waiter, so
 * longer polls cost little hand-over time.
 */
const FIRST_WAIT_MS = 0.05;
const WAIT_GROWTH = 1.5;
const POLLED_WAIT_MS = 5;
const WATCHED_WAIT_MS = 10;
const LONGEST_WAIT_MS = 50;
const QUEUED_WAIT_MS = 100;
const LONGEST_QUEUED_WAIT_MS = 250;
const LOOK_EVERY_MS = 25;
const JUDGE_AT_LEAST_EVERY_MS = 4 * LOOK_EVERY_MS;

/**
 * What `link` fails with where the file system has no hard links (FAT and
 * exFAT, some FUSE and network file systems; `EISDIR` is how libuv reports
 * Windows' `ERROR_INVALID_FUNCTION` from `CreateHardLinkW` on exFAT and
 * FAT, where the source is no directory; `EACCES`, how sshfs reports a
 * server's file system without them): the lock is then made under its own
 * name, without the holder's second name. (The holder's file was just made
 * in the same directory, so a real refusal to write there fails that
 * create too, and a runtime's permissions, say `EACCES` for a `link` they
 * forbid, leave the create under the lock's name to say it.)
 */
const NO_HARD_LINKS = new Set([
  "EACCES",
  "EISDIR",
  "EPERM",
  "ENOTSUP",
  "EOPNOTSUPP",
  "ENOSYS",
  "EMLINK",
]);

/**
 * The file an update of `plan.target` would replace, found by the write's
 * own code (`_resolve_target.ts`), so the lock locks that very file and
 * refuses what the write refuses (a link planted in `/tmp`, a FIFO; with
 * `overwrite: false`, anything at the name but a regular file, whose
 * write's link then says `EEXIST`) before any lock file exists there.
 * `named` is the target's `lstat`, if made.
 */
function* finalTarget(
  plan: LockPlan,
  named?: EntryInfo | null,
): Steps<string> {
  const s = resolution(plan.target, writerOf(plan.adapter));
  s.task = taskOf(plan);
  yield* resolveTarget(s, named, plan.creating ? "create" : "lock");
  return s.final;
}

/**
 * Holds the directory `dir` open for the lock's files (see
 * `_lock_directory.ts`), in place of the one held, if any. A missing one
 * is made first with the `mkdir` option. Where it cannot be held (the
 * runtime cannot name files through it, or this user may write in it but
 * not read it), the lock's files are named by path.
 */
function* holdDirectory(plan: LockPlan, dir: string): Steps<void> {
  yield* letGo(plan);
  const handle = yield* openToHold(
    dir,
    plan.mkdir
      ? () => act(plan, "create directory", dir, request("mkdir", dir))
      : undefined,
    // The first step of making the lock, and reported as such.
    (error) =>
      lockError(
        plan,
        codeOf(error),
        "create lock",
        dir,
        undefined,
        error,
      ),
  );
  const directories = plan.directories;
  if (handle === null) return;
  if (directories === undefined) {
    yield* settle(request("close", handle.file));
    return;
  }
  directories.keep(handle);
  plan.directory = { handle, dir, directories };
}

/** The lock file in the making: the holder's own name, and what it wrote there. */
interface Draft {
  readonly path: string;
  readonly file: OpenFile;
  readonly id: string;
  readonly record: LockRecord;
  /** When its modification time was last set (it becomes the lock's heartbeat). */
  beatAt: number;
}

/**
 * Whether a waiting draft's modification time must be set again before it
 * is linked: it becomes the lock's heartbeat, and a lock is never born
 * stale.
 */
function draftIsOld(plan: LockPlan, draft: Draft, now: number): boolean {
  return now - draft.beatAt >= plan.lease / HEARTBEATS_PER_LEASE;
}

/**
 * One try at the lock file `path`: links the holder's own file `holder` to
 * it (made and written first, `attempt` being its speculative creation), or,
 * without hard links (`holder` is `null`), creates it. Resolves to the lock,
 * or to `null` if another process holds it; `state.draft` keeps the file
 * made for the next try, and `state.holder` becomes `null` once the file
 * system turns out to have no hard links. The try owns `attempt`: if it
 * fails, it has closed and removed that file.
 */
function* tryLock(
  plan: LockPlan,
  final: string,
  path: string,
  state: LockState,
  attempt: Settled<OpenFile> | undefined,
  ticket: Ticket | null,
): Steps<Held | null> {
  const read = plan.read ? through(plan, final) : undefined;
  const me = plan.adapter.identity();
  if (state.holder === null) {
    const record = newRecord(me, plan.lease);
    const beatAt = record.at;
    const made = yield* createRecord(plan, path, record, state.mode, {
      attempt,
      read,
    });
    if (made === null) return null;
    const taken = held(plan, final, path, null, made, record, beatAt, ticket);
    taken.initial = made.read;
    markHeld(taken);
    return taken;
  }
  const holder = state.holder;
  let linked: Settled<void>;
  if (state.draft === null) {
    const record = newRecord(me, plan.lease, basename(holder));
    const beatAt = record.at;
    // In flight before it exists: no exit falls between the two.
    plan.inFlight?.add(holder);
    let made: Made | null = null;
    try {
      made = yield* createRecord(plan, holder, record, state.mode, {
        attempt,
        link: path,
      });
    } finally {
      if (made === null) plan.inFlight?.delete(holder);
    }
    if (made === null) {
      throw lockError(plan, "EEXIST", "create lock", holder);
    }
    state.draft = {
      path: holder,
      file: made.file,
      id: made.id,
      record,
      beatAt,
    };
    linked = made.linked!;
  } else {
    const draft = state.draft;
    const now = wallClock();
    if (draftIsOld(plan, draft, now)) {
      yield* act(plan, "touch lock", holder, request("touch", draft.file, now));
      draft.beatAt = now;
    }
    linked = yield* settle(request("link", holder, path));
  }
  const draft = state.draft;
  if (linked.ok) {
    state.draft = null;
    // Its descriptor goes: the heartbeat sets the lock's time through the
    // holder's own name (`_lock_hold.ts`), so that a held lock keeps no
    // descriptor open (a thousand updates of as many files at once would
    // otherwise hold a thousand, and their writes find none left).
    const taken = held(
      plan,
      final,
      path,
      holder,
      { file: null, id: draft.id },
      draft.record,
      draft.beatAt,
      ticket,
    );
    markHeld(taken);
    // Read only now: the file is the lock holder's only once the link is made.
    const [, initial] = yield* all([
      request("close", draft.file),
      ...(read === undefined ? [] : [request("readFile", read)]),
    ]);
    if (read !== undefined) {
      taken.initial = initial as Settled<FileContent | null>;
    }
    return taken;
  }
  if (yield* nameTaken(path, linked.error)) return null;
  const code = codeOf(linked.error);
  state.draft = null;
  yield* both(request("close", draft.file), request("remove", holder));
  plan.inFlight?.delete(holder);
  if (!NO_HARD_LINKS.has(code)) {
    throw lockError(plan, code, "link lock", path, undefined, linked.error);
  }
  state.holder = null;
  return yield* tryLock(plan, final, path, state, undefined, ticket);
}

/**
 * Marks the lock `held` this thread's as soon as it is taken, before the
 * steps that end the acquisition (the read of the locked file, the waiter's
 * own files): known to a synchronous lock of the same file in this thread
 * (`EDEADLK`), and released at exit by the very steps of `release()`, not
 * removed by name: a holder whose event loop stalled past its lease may
 * find at exit that its lock's name is another process's lock by then.
 */
function markHeld(held: Held): void {
  const plan = held.plan;
  plan.held?.add(held.id);
  const names = [held.path];
  if (held.holder !== null) names.push(held.holder);
  if (held.ticket !== null) names.push(held.ticket.path);
  plan.inFlight?.releaseAtExit(
    names,
    () => runSync(releaseAtExit(held, names), plan.adapter.sync),
  );
}

/** A lock just taken. */
function held(
  plan: LockPlan,
  final: string,
  path: string,
  holder: string | null,
  made: { file: OpenFile | null; id: string },
  record: LockRecord,
  beatAt: number,
  ticket: Ticket | null,
): Held {
  return {
    plan,
    final,
    path,
    holder,
    record,
    id: made.id,
    file: made.file,
    beatAt,
    lost: null,
    released: false,
    initial: null,
    ticket,
  };
}

/** What a waiter's tries make: the holder's own name (`null` without hard links), its file in the making, and the mode of both. */
interface LockState {
  holder: string | null;
  draft: Draft | null;
  readonly mode: number;
}

/** A waiter between two tries: what it found out and made so far. */
export interface Waiter {
  readonly plan: LockPlan;
  /** The file actually locked: the target with symbolic links followed. */
  readonly final: string;
  /** The lock file. */
  readonly path: string;
  readonly state: LockState;
  /** The speculative creation of the holder's own file, not yet used. */
  attempt: Settled<OpenFile> | undefined;
  readonly started: number;
  readonly deadline: number;
  /** The next pause, before jitter. */
  wait: number;
  /** When the holder was last judged, by `monotonic()`. */
  lookedAt: number;
  seen: Sighting | null;
  /** The identity of the lock file seen by the last `lstat`, if any. */
  sighted: string | null;
  /** When the holder was last judged (its record read), by `monotonic()`. */
  judgedAt: number;
  /** Whether the lock file can be watched (an asynchronous waiter, until a watch fails). */
  watching: boolean;
  /** Its place in the line (`_lock_queue.ts`): not taken yet (`undefined`), none (`null`), or its ticket. */
  ticket: Ticket | null | undefined;
  /** What it waits on between tries: the lock file, or the ticket just ahead of its own. */
  awaits: string;
  /** How many waiters were ahead of it in line when it last looked. */
  place: number;
  /** Whether its last pause ran out with no change to what it waited on. */
  quiet: boolean;
  /** Whether it took the lock, which then holds its directory (`_lock_directory.ts`). */
  taken: boolean;
}

/**
 * Refuses, before any file is made for it, a lock file that its holder
 * could not look at, which the runtime's permissions can forbid alone
 * (Deno's `--deny-read` on it, or `--allow-read` for the target only; Node's
 * `--allow-fs-read` likewise): the holder looks at its lock before each
 * commit and heartbeat, and would find it lost and leave it behind.
 */
function checkLookable(plan: LockPlan, path: string): void {
  try {
    plan.adapter.checkAccess(path, "read");
  } catch (error) {
    throw lockError(plan, "EACCES", "look at lock", path, undefined, error);
  }
}

/**
 * The first step of taking the lock of `plan.target`: finds the file a
 * write would replace, refusing what it refuses. It makes the holder's own
 * file beside the target as named meanwhile: one round trip instead of two
 * in the usual case, and describes the directory (its lock files are
 * owner-only in a shared sticky one: see `PRIVATE_LOCK_MODE`). A link's (or
 * a refused target's, or a sticky directory's) speculative file is ours
 * (made with O_EXCL under a name of ours, nothing written), locks nothing,
 * and goes at once. It first holds the target's directory open, and names
 * everything in it through that (`_lock_directory.ts`); a link's target in
 * another directory has that directory held instead, and its own file made
 * again there.
 */
export function* approach(
  plan: LockPlan,
  started: number = monotonic(),
): Steps<Waiter> {
  checkLookable(plan, lockPathFor(plan.target));
  try {
    yield* holdDirectory(plan, dirname(plan.target));
    return yield* lookAndMake(plan, started);
  } catch (error) {
    yield* letGo(plan);
    throw error;
  }
}

/** {@linkcode approach}, once the target's directory is held (where it can be). */
function* lookAndMake(plan: LockPlan, started: number): Steps<Waiter> {
  const heldFirst = plan.directory ?? null;
  const named = holderPathFor(plan, lockPathFor(through(plan, plan.target)));
  plan.inFlight?.add(named); // before it exists: no exit falls in between
  const [stat, first, parent] = (yield* all([
    request("lstat", through(plan, plan.target)),
    request("createExclusive", named, LOCK_MODE),
    request("stat", heldFirst?.handle.path ?? dirname(plan.target)),
  ])) as [
    Settled<EntryInfo | null>,
    Settled<OpenFile>,
    Settled<EntryInfo | null>,
  ];
  let final: string | null = null;
  let mode = LOCK_MODE;
  // Whether the lock's files go in another directory than the one held
  // first (a link's target's): the speculative file goes first, then that
  // directory is held.
  let moves = false;
  // Whether the speculative file is the holder's own file of this lock.
  let used = false;
  try {
    final = yield* finalTarget(plan, stat.ok ? stat.value : undefined);
    const sameDir = dirname(final) === dirname(plan.target);
    moves = heldFirst !== null && !sameDir;
    if (!moves) {
      const dir = sameDir
        ? parent
        : yield* settle(request("stat", dirname(final)));
      mode = lockModeIn(dir.ok ? dir.value : null);
    }
  } finally {
    used = final === plan.target && !moves && mode === LOCK_MODE;
    if (!used && first.ok) {
      yield* both(request("close", first.value), request("remove", named));
    }
    if (!used || !first.ok) plan.inFlight?.delete(named);
  }
  if (moves) {
    yield* holdDirectory(plan, dirname(final));
    const dir = yield* settle(
      request("stat", plan.directory?.handle.path ?? dirname(final)),
    );
    mode = lockModeIn(dir.ok ? dir.value : null);
  }
  const path = lockPathFor(through(plan, final));
  if (final !== plan.target) checkLookable(plan, lockPathFor(final));
  return {
    plan,
    final,
    path,
    state: {
      holder: used ? named : holderPathFor(plan, path),
      draft: null,
      mode,
    },
    attempt: used ? first : undefined,
    started,
    deadline: started + plan.timeout,
    wait: FIRST_WAIT_MS,
    lookedAt: -Infinity,
    seen: null,
    sighted: null,
    judgedAt: started,
    watching: plan.watch,
    ticket: undefined,
    awaits: path,
    place: 0,
    quiet: false,
    taken: false,
  };
}

/**
 * Between two failed tries: looks at the lock and judges its holder, taking
 * the lock over if it is stale. Resolves to whether to try again at once
 * (the lock went meanwhile) rather than pause.
 *
 * Polls are one failed link (or O_EXCL create); the holder is judged (its
 * record read, its process checked) at most every LOOK_EVERY_MS, and only
 * once the same lock file has been seen twice, or the wait is over: under
 * contention the lock changes hands every few ms, and a lock that does is
 * not stale. Measured with 6 Node processes on 2 cores, judging every
 * holder cost the waiters ~3 file reads (the record, /proc) per update; an
 * `lstat` is one system call. A dead holder's lock is taken over
 * LOOK_EVERY_MS later than it would be otherwise (JUDGE_AT_LEAST_EVERY_MS
 * at most, where inode numbers change from one lookup to the next).
 */
function* lookAgain(w: Waiter): Steps<boolean> {
  const plan = w.plan;
  const due = monotonic() >= w.deadline;
  if (!due && monotonic() - w.lookedAt < LOOK_EVERY_MS) return false;
  w.lookedAt = monotonic();
  let sighted: EntryInfo | undefined;
  if (!due) {
    const entry = yield* act(
      plan,
      "stat lock",
      w.path,
      request("lstat", w.path),
    );
    if (entry === null) return true; // released in between
    sighted = entry;
    // Only when to judge: the identity never says whose the lock is here.
    const first = entry.id !== w.sighted;
    w.sighted = entry.id;
    // A file system whose inode numbers are not stable (each lookup
    // numbered afresh) still has its holders judged, less often.
    if (first && w.lookedAt - w.judgedAt < JUDGE_AT_LEAST_EVERY_MS) {
      return false;
    }
  }
  w.judgedAt = w.lookedAt;
  w.seen = yield* look(plan, w.path, sighted);
  if (w.seen === null) return true;
  if (
    staleReason(w.seen, wallClock(), plan.lease, checks(plan.adapter)) === null
  ) {
    return false;
  }
  yield* reclaim(plan, w.path, w.path, w.seen, 0, false);
  w.lookedAt = -Infinity;
  w.sighted = null;
  return true;
}

/**
 * After a failed try: lines up (once), and finds what to wait on. A waiter
 * first in line that was woken by the lock file is still first: it waits on
 * the lock file again without looking at the line.
 */
function* lineUp(w: Waiter): Steps<void> {
  const adapter = w.plan.adapter;
  if (w.ticket) yield* refresh(w.ticket);
  let found;
  if (w.ticket === undefined) {
    const joined = yield* join(adapter, w.path, w.plan.inFlight);
    w.ticket = joined?.ticket ?? null;
    found = joined?.ahead ?? null;
  } else if (w.ticket === null || (w.awaits === w.path && !w.quiet)) {
    return;
  } else {
    found = yield* ahead(adapter, w.ticket, w.quiet);
  }
  w.quiet = false;
  if (found === "lost") {
    // Removed by another (the one behind, judging it abandoned), or not
    // listed though it is there (a mount that hides names starting with a
    // dot: ntfs-3g's hide_dot_files): left, its own name removed either way.
    const lost = w.ticket!;
    w.ticket = null;
    yield* leave(lost);
    w.plan.inFlight?.delete(lost.path);
  }
  w.awaits = found === "lost" || found === null ? w.path : found.path;
  w.place = found === "lost" || found === null ? 0 : found.place;
}

/** The error of a wait for the lock file `path` that lasted longer than its timeout; `holder` says who held it. */
export function timedOut(
  plan: LockPlan,
  path: string,
  holder: string,
): AtomicWriteError {
  return lockError(
    plan,
    "ETIMEDOUT",
    "lock",
    path,
    `held by ${holder} for longer than ${plan.timeout} ms`,
  );
}

/**
 * One try at the lock: the lock, or how many ms to pause before the next
 * try. Rejects with `ETIMEDOUT` once the deadline has passed.
 */
export function* tryOnce(w: Waiter): Steps<Held | number> {
  const plan = w.plan;
  // Tries made at once after a look found the lock gone or took it over:
  // one. A reclaim that gave up (another reclaimer holds its mutex) finds
  // the lock still there, and must neither spin nor outlast the timeout.
  let atOnce = 1;
  for (;;) {
    plan.signal?.throwIfAborted();
    // The speculative file is the try's from here, whatever happens: a try
    // that fails closes and removes it, and nothing else may (its
    // descriptor's number may be another file's by then).
    const attempt = w.attempt;
    w.attempt = undefined;
    const got = yield* tryLock(
      plan,
      w.final,
      w.path,
      w.state,
      attempt,
      w.ticket ?? null, // left as the lock is released
    );
    if (got !== null) {
      w.ticket = null;
      w.taken = true; // and its directory held, if any, with it
      return got;
    }
    if ((yield* lookAgain(w)) && atOnce-- > 0) continue;
    const now = monotonic();
    if (now >= w.deadline) {
      throw timedOut(
        plan,
        w.path,
        w.seen ? describeHolder(w.seen) : "another process",
      );
    }
    yield* lineUp(w);
    // Longer pauses the longer the wait lasts.
    const early = w.watching || !plan.watch;
    const queued = early && w.awaits !== w.path;
    const longest = Math.min(
      queued ? LONGEST_QUEUED_WAIT_MS : LONGEST_WAIT_MS,
      Math.max(
        queued ? QUEUED_WAIT_MS : early ? WATCHED_WAIT_MS : POLLED_WAIT_MS,
        (now - w.started) / 20,
      ),
    );
    // A waiter woken early (by a watch, or its polls) is woken by the
    // release: its pause is only a safety net. One that only tries starts
    // with short pauses (hand-overs under contention) and backs off.
    if (early) w.wait = longest;
    // With jitter, never past the deadline.
    const pause = Math.min(w.wait * (0.5 + Math.random()), w.deadline - now);
    w.wait = Math.min(w.wait * WAIT_GROWTH, longest);
    return Math.max(0, pause);
  }
}

/** Removes the waiter's own file if it never became the lock (the wait failed or was cancelled). */
export function* abandon(w: Waiter): Steps<void> {
  const draft = w.state.draft;
  w.state.draft = null;
  if (draft !== null) {
    yield* both(request("close", draft.file), request("remove", draft.path));
    w.plan.inFlight?.delete(draft.path);
  }
  const ticket = w.ticket;
  w.ticket = null;
  if (ticket) {
    yield* leave(ticket);
    w.plan.inFlight?.delete(ticket.path);
  }
  const attempt = w.attempt;
  w.attempt = undefined;
  if (attempt?.ok && w.state.holder !== null) {
    yield* both(
      request("close", attempt.value),
      request("remove", w.state.holder),
    );
    w.plan.inFlight?.delete(w.state.holder);
  }
  if (!w.taken) yield* letGo(w.plan);
}
