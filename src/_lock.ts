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
 * 4. then, like everybody, it competes for the lock with O_EXCL.
 *
 * A waiter that comes late with an old judgement wins the mutex, but step 2
 * finds a different lock and stops. A mutex whose holder died is itself
 * reclaimed the same way (its record names it); the depth is bounded.
 *
 * ## Losing a lock, and fencing
 * A holder that is alive but stalled (a blocked event loop, a suspended
 * machine) past its lease may have its lock taken over. It never throws from
 * a timer: its heartbeat finds the lock gone, or finds that its own lease
 * ran out, marks the lock lost and aborts the lock's `signal`. A holder
 * never renews a lease that already ran out, even if the file is still its
 * own: a waiter may be between steps 2 and 3. An update checks the lock
 * just before its rename ({@linkcode guard}): still its own file, and at
 * least `margin` ms of lease left. The remaining window is that check and
 * the rename itself: a holder that stalls for more than `margin` between the
 * two can still commit after its lock was taken over. Across hosts, clocks
 * must also agree within `margin`.
 *
 * A holder releases its lock by name (`unlink`) only while it has at least
 * `margin` of lease left, when nobody may judge it stale; later, it goes
 * through the reclaim mutex like a waiter.
 *
 * @module
 */
import { basename, dirname } from "node:path";
import { AtomicWriteError } from "./atomic_write_error.ts";
import { errorCode } from "./_error_code.ts";
import { inDirectory, resolution, writerOf } from "./_replacement.ts";
import { resolveTarget } from "./_resolve_target.ts";
import { lockName, lockOf, reclaimName } from "./_lock_name.ts";
import {
  type Checks,
  describeHolder,
  encodeRecord,
  type HolderName,
  holderNamed,
  identityToken,
  type LockRecord,
  newRecord,
  parseRecord,
  type Sighting,
  staleReason,
} from "./_lock_record.ts";
import { isTempNameFor, tempName } from "./_temp_name.ts";
import {
  all,
  both,
  perform,
  performOr,
  type Request,
  request,
  settle,
  type Settled,
  type Steps,
  waitFor,
} from "./_steps.ts";
import type {
  DirWatch,
  EntryInfo,
  OpenFile,
  RuntimeAdapter,
} from "./runtime/types.ts";

/**
 * The default lease, in ms. A holder on this host that dies is detected at
 * once (dead pid, reused pid, other boot), so the lease only decides for
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
/** How deep a chain of dead reclaimers is followed before waiting instead. */
const MAX_RECLAIM_DEPTH = 3;
/**
 * Waiting: the first pause and its growth; the longest pause of a young
 * wait for a synchronous waiter (it only polls) and for an asynchronous one
 * (the directory watch wakes it); the longest of any wait, reached after
 * 20 times as long; how often the holder is judged.
 */
const FIRST_WAIT_MS = 0.05;
const WAIT_GROWTH = 1.5;
const POLLED_WAIT_MS = 1;
const WATCHED_WAIT_MS = 10;
const LONGEST_WAIT_MS = 50;
const LOOK_EVERY_MS = 25;
const LOCK_MODE = 0o644;
/**
 * What `link` fails with where the file system has no hard links (FAT and
 * exFAT, some FUSE and network file systems): the lock is then made under
 * its own name, without the holder's second name.
 */
const NO_HARD_LINKS = new Set([
  "EPERM",
  "ENOTSUP",
  "EOPNOTSUPP",
  "ENOSYS",
  "EMLINK",
]);

/** What one lock acquisition is about. */
export interface LockPlan {
  /** The path the caller named. */
  readonly target: string;
  readonly lease: number;
  /** ms to wait; `Infinity`: wait as long as it takes. */
  readonly timeout: number;
  readonly signal: AbortSignal | undefined;
  readonly mkdir: boolean;
  readonly adapter: RuntimeAdapter;
  /** Asynchronous waiters also wake when the lock's directory changes; sync ones only poll. */
  readonly watch: boolean;
  /** Read the locked file alongside the lock's record write (an update will need it). */
  readonly read: boolean;
}

/**
 * A lock this process holds. Its state changes only through
 * {@linkcode markLost} and {@linkcode release}:
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
  readonly path: string;
  /** The holder's own name for the lock file (see the module doc); `null` without hard links. */
  readonly holder: string | null;
  readonly record: LockRecord;
  /** The lock file's identity (device and inode). */
  readonly id: string;
  file: OpenFile | null;
  /** When the last heartbeat (or the creation) was made, by `Date.now()`. */
  beatAt: number;
  /** Why the lock was lost, once it was. */
  lost: AtomicWriteError | null;
  released: boolean;
  /** Called once when the lock is found lost. */
  onLost?: () => void;
  /** The locked file's content read as the lock was taken, with `plan.read`. */
  initial: Settled<Uint8Array | null> | null;
}

function lockError(
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
    path,
    target: plan.target,
    reason,
    cause,
  });
}

/** Runs one request; a failure becomes an {@linkcode AtomicWriteError}. */
function act<T>(
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
        errorCode(error) ?? "EIO",
        operation,
        path,
        undefined,
        error,
      ),
  );
}

function checks(adapter: RuntimeAdapter): Checks {
  return {
    me: adapter.identity(),
    isAlive: (pid) => adapter.isProcessAlive(pid),
    processStart: (pid) => adapter.processStart(pid),
    writerState: (writer) => adapter.writerState(writer),
  };
}

/** The margin of lease a holder keeps before it stops trusting its lock. */
export function marginOf(lease: number): number {
  return lease / MARGIN_PER_LEASE;
}

/**
 * The file an update of `plan.target` would replace, found by the write's
 * own code (`_resolve_target.ts`), so the lock locks that very file and
 * refuses what the write refuses (a link planted in `/tmp`, a FIFO) before
 * any lock file exists there. `named` is the target's `lstat`, if made.
 */
function* finalTarget(
  plan: LockPlan,
  named?: EntryInfo | null,
): Steps<string> {
  const s = resolution(plan.target, writerOf(plan.adapter));
  yield* resolveTarget(s, named);
  return s.final;
}

/** The lock file at `path` as it is now, or `null` if there is none. */
function* look(plan: LockPlan, path: string): Steps<Sighting | null> {
  const bytes = yield* act(plan, "read lock", path, request("readFile", path));
  if (bytes === null) return null;
  const entry = yield* act(plan, "stat lock", path, request("lstat", path));
  if (entry === null) return null;
  const record = parseRecord(bytes);
  if (record === undefined) {
    throw lockError(
      plan,
      "EEXIST",
      "lock",
      path,
      "the file is in the way and is not a lock file of @x/atomic",
    );
  }
  return {
    entry,
    record,
    token: record?.token ?? identityToken(entry),
    holder: record?.file !== undefined
      ? holderNamed(record.file)
      : record === null
      ? yield* findHolder(path, entry)
      : null,
  };
}

/**
 * The holder's own name for the lock file at `path`, seen as `entry`, whose
 * record cannot be read (the holder is writing it, or a power cut lost it):
 * the temporary name beside it that is the same file. `null` if there is
 * none (a file system without hard links). Only this path reads the
 * directory.
 */
function* findHolder(
  path: string,
  entry: EntryInfo,
): Steps<HolderName | null> {
  const dir = dirname(path);
  const listed = yield* settle(request("readDir", dir));
  if (!listed.ok) return null;
  const names = listed.value.filter((name) =>
    isTempNameFor(name, basename(path))
  );
  if (names.length === 0) return null;
  const entries = (yield* all(
    names.map((name) => request("lstat", inDirectory(dir, name))),
  )) as Settled<EntryInfo | null>[];
  const i = entries.findIndex((e) => e.ok && e.value?.id === entry.id);
  return i < 0 ? null : holderNamed(names[i]);
}

/** The holder's own name for the lock file `lock`: a temporary name naming this thread. */
function holderPathFor(plan: LockPlan, lock: string): string {
  return inDirectory(
    dirname(lock),
    tempName(basename(lock), plan.adapter.writer()),
  );
}

/** What {@linkcode createRecord} made. */
interface Made {
  file: OpenFile;
  id: string;
  /** The read of `read`, if asked for. */
  read: Settled<Uint8Array | null> | null;
  /** The link to `link`, if asked for. */
  linked: Settled<void> | null;
}

/**
 * Creates `path` with O_EXCL and writes `record` into it; `null` if it
 * exists. Alongside the write, it can read the file `read` (the lock is
 * `path`) or link `path` to `link` (the lock is `link`).
 */
function* createRecord(
  plan: LockPlan,
  path: string,
  record: LockRecord,
  attempt?: Settled<OpenFile>,
  read?: string,
  link?: string,
): Steps<Made | null> {
  let created = attempt ??
    (yield* settle(request("createExclusive", path, LOCK_MODE)));
  if (!created.ok && errorCode(created.error) === "ENOENT" && plan.mkdir) {
    const dir = dirname(path);
    yield* act(plan, "create directory", dir, request("mkdir", dir));
    created = yield* settle(request("createExclusive", path, LOCK_MODE));
  }
  if (!created.ok) {
    if (errorCode(created.error) === "EEXIST") return null;
    throw lockError(
      plan,
      errorCode(created.error) ?? "EIO",
      "create lock",
      path,
      undefined,
      created.error,
    );
  }
  const file = created.value;
  const bytes = encodeRecord(record);
  // The identity can be read at once: nobody else removes a fresh lock. An
  // update's read of the locked file goes alongside.
  const [written, entry, other] = (yield* all([
    request("write", file, bytes),
    request("lstat", path),
    ...(read !== undefined
      ? [request("readFile", read)]
      : link !== undefined
      ? [request("link", path, link)]
      : []),
  ])) as [Settled<number>, Settled<EntryInfo | null>, Settled<unknown>?];
  if (written.ok && written.value === bytes.length && entry.ok && entry.value) {
    return {
      file,
      id: entry.value.id,
      read: read === undefined ? null : other as Settled<Uint8Array | null>,
      linked: link === undefined ? null : other as Settled<void>,
    };
  }
  // A link made to a file that failed is this process's own: nobody judges
  // a fresh lock of a live holder stale.
  if (link !== undefined && other?.ok) {
    yield* settle(request("remove", link));
  }
  yield* both(request("close", file), request("remove", path));
  const cause = !written.ok ? written.error : !entry.ok ? entry.error : null;
  throw lockError(
    plan,
    errorCode(cause) ?? "EIO",
    written.ok ? "stat lock" : "write lock",
    path,
    cause === null ? "the record was not written whole" : undefined,
    cause ?? undefined,
  );
}

/**
 * The lock file for the (final) target `final`, beside it as the kernel
 * finds it: `alias/../f` stays as it is (see {@linkcode inDirectory}).
 */
function lockPathFor(final: string): string {
  return inDirectory(dirname(final), lockName(basename(final)));
}

/**
 * Takes over the lock file at `path`, seen as `seen`, if it is still stale
 * once this process holds its reclaim mutex (see the module comment).
 * `force` skips the staleness check: a holder retiring its own expired lock.
 */
function* reclaim(
  plan: LockPlan,
  lock: string,
  path: string,
  seen: Sighting,
  depth: number,
  force: boolean,
): Steps<void> {
  const mutex = inDirectory(
    dirname(lock),
    reclaimName(basename(lock), seen.token),
  );
  const mine = newRecord(plan.adapter.identity(), plan.lease);
  const made = yield* createRecord(plan, mutex, mine);
  if (made === null) {
    // Another process is reclaiming this very lock. If it died doing so,
    // its mutex is stale in turn, and is reclaimed the same way.
    if (depth >= MAX_RECLAIM_DEPTH) return;
    const other = yield* look(plan, mutex);
    if (
      other !== null &&
      staleReason(other, Date.now(), plan.lease, checks(plan.adapter)) !== null
    ) {
      yield* reclaim(plan, lock, mutex, other, depth + 1, false);
    }
    return;
  }
  try {
    const again = yield* look(plan, path);
    if (
      again === null || again.entry.id !== seen.entry.id ||
      again.token !== seen.token ||
      (!force &&
        staleReason(again, Date.now(), plan.lease, checks(plan.adapter)) ===
          null)
    ) {
      return; // released, replaced, or refreshed since it was judged
    }
    yield* act(plan, "reclaim lock", path, request("rename", path, mutex));
    const moved = yield* act(plan, "stat lock", mutex, request("lstat", mutex));
    if (moved !== null && moved.id !== seen.entry.id) {
      // Not the file judged stale: a live lock. Put it back; link(2) fails
      // rather than replace a lock made since.
      yield* settle(request("link", mutex, path));
    } else if (seen.holder !== null) {
      // The gone holder's own name for the file goes with it, if it still
      // is that file.
      const own = inDirectory(dirname(lock), seen.holder.name);
      const entry = yield* settle(request("lstat", own));
      if (entry.ok && entry.value?.id === seen.entry.id) {
        yield* settle(request("remove", own));
      }
    }
  } finally {
    yield* settle(request("close", made.file));
    yield* settle(request("remove", mutex));
  }
}

/**
 * Pauses a waiter: `ms` with jitter, never past the deadline; with a
 * directory watch, less if the directory changes (the lock is released).
 */
function* pause(
  plan: LockPlan,
  watch: DirWatch | null,
  ms: number,
  deadline: number,
): Steps<void> {
  const jittered = ms * (0.5 + Math.random());
  const delay = Math.max(0, Math.min(jittered, deadline - performance.now()));
  if (watch === null) yield* perform(request("sleep", delay));
  else yield* waitFor(watch.next(delay), plan.signal);
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

/** The first lease a waiting draft renews, so that the lock it becomes is never born stale. */
function draftIsOld(plan: LockPlan, draft: Draft, now: number): boolean {
  return now - draft.beatAt >= plan.lease / HEARTBEATS_PER_LEASE;
}

/**
 * One try at the lock file `path`: links the holder's own file `holder` to
 * it (made and written first, `attempt` being its speculative creation), or,
 * without hard links (`holder` is `null`), creates it. Resolves to the lock,
 * or to `null` if another process holds it; `state.draft` keeps the file
 * made for the next try, and `state.holder` becomes `null` once the file
 * system turns out to have no hard links.
 */
function* tryLock(
  plan: LockPlan,
  final: string,
  path: string,
  state: { holder: string | null; draft: Draft | null },
  attempt: Settled<OpenFile> | undefined,
): Steps<Held | null> {
  const read = plan.read ? final : undefined;
  const me = plan.adapter.identity();
  if (state.holder === null) {
    const record = newRecord(me, plan.lease);
    const beatAt = Date.now();
    const made = yield* createRecord(plan, path, record, attempt, read);
    if (made === null) return null;
    return held(plan, final, path, null, made, record, beatAt, made.read);
  }
  const holder = state.holder;
  let linked: Settled<void>;
  if (state.draft === null) {
    const record = newRecord(me, plan.lease, basename(holder));
    const beatAt = Date.now();
    const made = yield* createRecord(
      plan,
      holder,
      record,
      attempt,
      undefined,
      path,
    );
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
    const now = Date.now();
    if (draftIsOld(plan, draft, now)) {
      yield* act(plan, "touch lock", holder, request("touch", draft.file, now));
      draft.beatAt = now;
    }
    linked = yield* settle(request("link", holder, path));
  }
  const draft = state.draft;
  if (linked.ok) {
    state.draft = null;
    // Read only now: the file is the lock holder's only once the link is made.
    const initial = read === undefined
      ? null
      : yield* settle(request("readFile", read));
    return held(
      plan,
      final,
      path,
      holder,
      draft,
      draft.record,
      draft.beatAt,
      initial,
    );
  }
  const code = errorCode(linked.error) ?? "EIO";
  if (code === "EEXIST") return null;
  state.draft = null;
  yield* both(request("close", draft.file), request("remove", holder));
  if (!NO_HARD_LINKS.has(code)) {
    throw lockError(plan, code, "link lock", path, undefined, linked.error);
  }
  state.holder = null;
  return yield* tryLock(plan, final, path, state, undefined);
}

function held(
  plan: LockPlan,
  final: string,
  path: string,
  holder: string | null,
  made: { file: OpenFile; id: string },
  record: LockRecord,
  beatAt: number,
  initial: Settled<Uint8Array | null> | null,
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
    initial,
  };
}

/**
 * Waits for the lock of `plan.target` and takes it. The caller records
 * `held.path` and `held.holder` as in flight (removed at exit) and starts
 * the heartbeat.
 */
export function* acquire(plan: LockPlan): Steps<Held> {
  // The first attempt makes the holder's own file beside the target as
  // named while finding out whether the target is a symbolic link: one
  // round trip instead of two in the usual case. A link's (or a refused
  // target's) speculative file is ours (made with O_EXCL under a name of
  // ours), locks nothing, and goes at once.
  const named = holderPathFor(plan, lockPathFor(plan.target));
  const [stat, first] = yield* both(
    request("lstat", plan.target),
    request("createExclusive", named, LOCK_MODE),
  );
  let final: string | null = null;
  try {
    final = yield* finalTarget(plan, stat.ok ? stat.value : undefined);
  } finally {
    if (final !== plan.target && first.ok) {
      yield* both(request("close", first.value), request("remove", named));
    }
  }
  let attempt = final === plan.target ? first : undefined;
  const path = lockPathFor(final);
  const state = {
    holder: final === plan.target ? named : holderPathFor(plan, path),
    draft: null as Draft | null,
  };
  const started = performance.now();
  const deadline = started + plan.timeout;
  let wait = FIRST_WAIT_MS;
  let lookedAt = -Infinity;
  let seen: Sighting | null = null;
  let watch: DirWatch | null = null;
  try {
    for (;;) {
      plan.signal?.throwIfAborted();
      const got = yield* tryLock(plan, final, path, state, attempt);
      attempt = undefined;
      if (got !== null) return got;
      // Polls are one failed link (or O_EXCL create); the holder is judged
      // (its record read, its process checked) at most every LOOK_EVERY_MS.
      if (performance.now() - lookedAt >= LOOK_EVERY_MS) {
        seen = yield* look(plan, path);
        lookedAt = performance.now();
        if (seen === null) continue; // released in between: try again at once
        const now = Date.now();
        if (staleReason(seen, now, plan.lease, checks(plan.adapter)) !== null) {
          yield* reclaim(plan, path, path, seen, 0, false);
          lookedAt = -Infinity;
          continue;
        }
      }
      const now = performance.now();
      if (now >= deadline) {
        throw lockError(
          plan,
          "ETIMEDOUT",
          "lock",
          path,
          `held by ${
            seen ? describeHolder(seen) : "another process"
          } for longer than ${plan.timeout} ms`,
        );
      }
      if (plan.watch) {
        watch ??= plan.adapter.watchDir(dirname(path), basename(path));
      }
      yield* pause(plan, watch, wait, deadline);
      // Short polls while the wait is young (hand-overs under contention),
      // longer ones the longer it lasts.
      const longest = Math.min(
        LONGEST_WAIT_MS,
        Math.max(
          plan.watch ? WATCHED_WAIT_MS : POLLED_WAIT_MS,
          (now - started) / 20,
        ),
      );
      wait = Math.min(wait * WAIT_GROWTH, longest);
    }
  } finally {
    watch?.close();
    const draft = state.draft;
    if (draft !== null) {
      yield* both(request("close", draft.file), request("remove", draft.path));
    }
  }
}

/** Marks `held` lost (once) and returns the reason. */
export function markLost(held: Held, reason: string): AtomicWriteError {
  if (held.lost === null) {
    held.lost = lockError(
      held.plan,
      "ELOCKLOST",
      "hold lock",
      held.path,
      reason,
    );
    held.onLost?.();
  }
  return held.lost;
}

/** Whether `held` still has at least the fencing margin of lease left at `now`. */
function inLease(held: Held, now: number): boolean {
  return now < held.beatAt + held.plan.lease - marginOf(held.plan.lease);
}

/**
 * Checks that `held` is still this process's lock, with margin to spare;
 * throws `ELOCKLOST` if not. Run just before an update's rename.
 */
export function* guard(held: Held): Steps<void> {
  if (held.lost) throw held.lost;
  if (!inLease(held, Date.now())) {
    throw markLost(held, "the lease ran out before the update could commit");
  }
  const entry = yield* settle(request("lstat", held.path));
  if (!entry.ok || entry.value?.id !== held.id) {
    throw markLost(held, "the lock file was taken over by another process");
  }
}

/** One heartbeat: checks the lock, then renews its lease. Marks it lost instead of throwing. */
export function* heartbeat(held: Held): Steps<void> {
  if (held.released || held.lost) return;
  const now = Date.now();
  try {
    yield* guard(held);
  } catch {
    return; // guard marked it lost
  }
  if (held.released || held.file === null) return;
  const touched = yield* settle(request("touch", held.file, now));
  if (touched.ok) held.beatAt = now;
  else {markLost(
      held,
      `the heartbeat failed (${errorCode(touched.error) ?? "EIO"})`,
    );}
}

/**
 * Gives up the lock file. Never throws. Within its lease, with the margin to
 * spare, nobody may judge the lock stale, so removing it by name is safe;
 * later (or once found lost), a waiter may be reclaiming it, so it goes
 * through the reclaim mutex like a waiter, which removes it only if it is
 * still this very file.
 */
export function* release(held: Held): Steps<void> {
  if (held.released) return;
  held.released = true;
  const file = held.file;
  held.file = null;
  if (held.lost === null && inLease(held, Date.now())) {
    // The lock's name goes first: a power cut between the two removals
    // leaves at most the holder's own name (a temporary file that
    // `removeStaleTemps` sweeps), never a lock without it.
    yield* settle(request("remove", held.path));
  } else {
    const entry = yield* settle(request("lstat", held.path));
    if (entry.ok && entry.value?.id === held.id) {
      const seen: Sighting = {
        entry: entry.value,
        record: held.record,
        token: held.record.token,
        holder: null, // removed below in any case
      };
      try {
        yield* reclaim(held.plan, held.path, held.path, seen, 0, true);
      } catch { /* then it stays until it is judged stale */ }
    }
  }
  const last = [
    ...(held.holder === null ? [] : [request("remove", held.holder)]),
    ...(file === null ? [] : [request("close", file)]),
  ];
  if (last.length > 0) yield* all(last);
}

/**
 * The locked file's current content, or `null` if it does not exist: read
 * as the lock was taken (`plan.read`), or now.
 */
export function* readLocked(held: Held): Steps<Uint8Array | null> {
  const initial = held.initial;
  held.initial = null;
  const result = initial ?? (yield* settle(request("readFile", held.final)));
  if (result.ok) return result.value;
  throw lockError(
    held.plan,
    errorCode(result.error) ?? "EIO",
    "read",
    held.final,
    undefined,
    result.error,
  );
}

/**
 * Removes the lock file (or reclaim mutex) at `path` if its holder is gone
 * and it was last touched at least `olderThan` ms before `now`, through the
 * same race-free reclaim as a waiter; returns whether it went. A file that
 * is not one of ours is left alone.
 */
export function* sweepLock(
  path: string,
  adapter: RuntimeAdapter,
  now: number,
  olderThan: number,
): Steps<boolean> {
  const lock = lockOf(basename(path));
  if (lock === null) return false;
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
  let seen: Sighting | null;
  try {
    seen = yield* look(plan, path);
  } catch {
    return false; // not a lock file of ours, or unreadable: not ours to judge
  }
  if (seen === null || now - seen.entry.mtimeMs < olderThan) return false;
  if (staleReason(seen, now, plan.lease, checks(adapter)) === null) {
    return false;
  }
  yield* reclaim(plan, inDirectory(dirname(path), lock), path, seen, 0, false);
  const after = yield* settle(request("lstat", path));
  return after.ok && after.value?.id !== seen.entry.id;
}
