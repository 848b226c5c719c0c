/**
 * What a lock file says about its holder, and how a waiter judges from it
 * whether the holder is gone.
 *
 * A lock file holds one line of JSON, written in a single `write` right
 * after the file is created with O_EXCL:
 *
 * ```json
 * {"lock":"@x/atomic","v":1,"token":"…16 hex…","host":"web1","boot":"…",
 *  "pid":4242,"start":"123456","pidns":"pid:[4026531836]",
 *  "timens":"time:[4026531834]","lease":10000,"at":1795000000000}
 * ```
 *
 * The holder's heartbeat is the file's modification time (set with
 * `futimes` on the holder's own descriptor, so it can only ever touch the
 * holder's own file): the lock expires `lease` ms after it. Until its first
 * heartbeat, that time is the one the file system stamped the new file with,
 * by its own clock: a file server's, whose clock may lag the holders' by
 * more than a lease. So the record also says when the holder made the file
 * (`at`, by the holder's clock, as every heartbeat is), and the later of the
 * two counts: no lock is born stale, and no extra call is made for it (a
 * time before 2000 still ends the lease: see `release()`). An `at` more than
 * a lease ahead of the waiter's clock does not count (see
 * {@linkcode lastHeartbeat}): it was made by a clock that ran ahead, and
 * would keep a dead holder's lock until that time plus the lease.
 *
 * A holder on this host, in this boot and these PID and time namespaces is
 * checked directly, so a lock whose holder died is taken over at once:
 * - its pid is dead (or a zombie, not yet reaped by its parent);
 * - or its pid now belongs to another process (the start time differs; start
 *   times are shown relative to the reader's time namespace, so they compare
 *   only within one).
 *
 * A lock of another boot of this host is taken over at once only if it was
 * also last touched before this machine booted (when it booted is asked at
 * each such judgement: it moves with the wall clock; see `bootTime()` in
 * `runtime/_writer_identity.ts`): host names are not unique
 * (cloned images, containers named alike on several machines), and a live
 * holder on another machine of the same name, sharing the file system, has
 * another boot id too, but heartbeats its lock (every `lease / 5`). A power
 * cut leaves a lock last touched before the next boot. What this cannot
 * tell apart: a live holder on another machine of the same name whose last
 * heartbeat came before this machine booted (this machine booted within
 * its last `lease / 5`, or it stalled since): taken over at once.
 *
 * Anything else (another host sharing the file system, another pid or time
 * namespace, no /proc) is decided by the lease alone.
 *
 * ## A lock whose record was lost
 * The record is not fsynced (that would cost every update a third fsync),
 * so after a power cut the lock file is usually there but empty: its name
 * is journaled metadata, its content was still in the page cache. A record
 * that cannot be read says nothing about its holder, so a holder carries
 * its identity in a second *name* as well: it makes its lock file as a
 * temporary file, named after the thread that makes it
 * (`.{lock}.{pid}-{thread}-{start}-{host}-{random}.atomic-tmp`, see
 * `_temp_name.ts`), writes the record into it, and only then links it to the
 * lock's name (`link(2)` fails if the name exists, as O_EXCL does). Both
 * names are one file (same device and inode) for as long as the lock is
 * held. Names are metadata, and a journal replays metadata in order, so a
 * lock name that survived a power cut comes with the holder's name. A waiter
 * that finds a lock it cannot read looks for the name of the same file
 * beside it and judges the thread it names, as `removeStaleTemps` judges a
 * temporary file's writer: gone (on this boot, in this pid namespace) means
 * the lock is taken over at once; anything it cannot tell is left to the
 * lease, as before. The record also names that file (`file`), so whoever
 * removes a dead holder's lock removes its second name too.
 */
import { randomHex } from "./_temp_name.ts";
import { TOKEN_CHARS, tokenHash } from "./_lock_name.ts";
import { isKnownWriter, tempNameOwner, type TempOwner } from "./_temp_name.ts";
import type {
  EntryInfo,
  ProcessIdentity,
  ProcessStart,
} from "./runtime/types.ts";
import type { Writer, WriterState } from "./runtime/_writer_identity.ts";
import { wallClock } from "./_clock.ts";

/** The first bytes of every record: how a lock file of ours is recognised. */
const MARK = '{"lock":"@x/atomic"';

/** A holder, as recorded in its lock file. */
export interface LockRecord extends ProcessIdentity {
  /** Unique to one acquisition: names the reclaim mutex and the record in messages. */
  readonly token: string;
  /** How long after the last heartbeat the lock expires, in ms. */
  readonly lease: number;
  /** The lock file's other name, made by its holder (see the module doc); absent where links are not supported. */
  readonly file?: string | undefined;
  /** When the holder made the file, by its clock (ms since the epoch): its first heartbeat, unless more than a lease ahead (see the module doc). */
  readonly at?: number | undefined;
}

/** The holder's own name for a lock file, and the writer that name says made it. */
export interface HolderName {
  /** A file name in the lock's directory. */
  readonly name: string;
  /** Who made it, as the name says. */
  readonly owner: TempOwner;
}

/** A lock file as a waiter saw it. */
export interface Sighting {
  readonly entry: EntryInfo;
  /** The parsed record; `null` while the holder is still writing it (or died doing so). */
  readonly record: LockRecord | null;
  /** Names this lock file for reclaiming: the record's token, or a hash of the file's identity. */
  readonly token: string;
  /** The holder's own name for the lock file: from the record, or found beside it when the record is unreadable. */
  readonly holder: HolderName | null;
}

/** What the process-level facts say about a recorded holder. */
export interface Checks {
  readonly me: ProcessIdentity;
  isAlive(pid: number): boolean;
  processStart(pid: number): ProcessStart | null;
  /** Whether the thread a temporary name names still runs (see `runtime/_writer_identity.ts`). */
  writerState(writer: Writer): WriterState;
  /**
   * When this machine booted (ms since the epoch), or `null` if unknown:
   * asked at each judgement of a lock of another boot only (it moves with
   * the wall clock, and costs a read of /proc).
   */
  bootTime(): number | null;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A fresh record for this process, made now; `file` is the holder's own name for the lock file. */
export function newRecord(
  me: ProcessIdentity,
  lease: number,
  file?: string,
): LockRecord & { readonly at: number } {
  return {
    ...me,
    token: randomHex(TOKEN_CHARS / 2),
    lease,
    file,
    at: wallClock(),
  };
}

/**
 * `name` as a holder's own name for a lock file: a plain file name (never a
 * path: it comes from a file anyone may write) and the writer it names.
 */
export function holderNamed(name: string): HolderName | null {
  if (/[/\\]/.test(name)) return null;
  const owner = tempNameOwner(name);
  return owner === null ? null : { name, owner };
}

/** The bytes of `record`, as written to the lock file. */
export function encodeRecord(record: LockRecord): Uint8Array {
  const { token, host, boot, pid, start, pidns, timens, lease, file, at } =
    record;
  const body = JSON.stringify({
    token,
    host,
    boot,
    pid,
    start,
    pidns,
    timens,
    lease,
    file,
    at,
  });
  return encoder.encode(`${MARK},"v":1,${body.slice(1)}\n`);
}

function isRecord(value: unknown): value is LockRecord {
  const r = value as Record<string, unknown> | null;
  return r !== null && typeof r === "object" &&
    typeof r.token === "string" && /^[0-9a-f]{16}$/.test(r.token) &&
    typeof r.host === "string" && typeof r.boot === "string" &&
    typeof r.pid === "number" && typeof r.start === "string" &&
    typeof r.pidns === "string" &&
    (r.timens === undefined || typeof r.timens === "string") &&
    typeof r.lease === "number" &&
    r.lease > 0 && (r.file === undefined || typeof r.file === "string") &&
    (r.at === undefined || Number.isFinite(r.at));
}

/**
 * Reads a lock file's bytes: the record, `null` if the holder is still
 * writing it, or `undefined` if the file is not one of ours (then it is
 * never removed).
 */
export function parseRecord(bytes: Uint8Array): LockRecord | null | undefined {
  const text = decoder.decode(bytes);
  if (!text.startsWith(MARK)) {
    return MARK.startsWith(text) || isUnwritten(bytes) ? null : undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : null;
  } catch {
    return text.endsWith("\n") ? undefined : null;
  }
}

/**
 * Whether `bytes` are all NUL: a record whose bytes the file system shows
 * before they are written (FAT through fusefat, to a reader while its
 * holder writes it), not a user's file.
 */
function isUnwritten(bytes: Uint8Array): boolean {
  return bytes.every((byte) => byte === 0);
}

/**
 * The token of a sighting whose record is not (yet) readable: a hash of the
 * file's identity and its time in whole milliseconds, which every runtime
 * reads alike (Node and Bun give fractions of one, Deno none), so that
 * waiters of every runtime name the same reclaim mutex after it.
 */
export function identityToken(entry: EntryInfo): string {
  return tokenHash(`${entry.id}@${Math.floor(entry.mtimeMs)}`);
}

/**
 * How much later than `mtimeMs` the heartbeat it records may have been:
 * FAT keeps modification times in steps of 2 s, exFAT through FUSE and
 * sshfs in whole seconds, cut down to the step. A time on such a step is
 * given the step as allowance (on a finer file system, one heartbeat in a
 * thousand falls on a whole second, and its lock is taken over up to 2 s
 * later: never earlier).
 */
function coarseness(mtimeMs: number): number {
  if (mtimeMs % 2000 === 0) return 2000;
  if (mtimeMs % 1000 === 0) return 1000;
  return 0;
}

/**
 * Whether the latest heartbeat a lock may have had (`latest`, with the file
 * system's step allowed for) came before `bootTime`: then no holder has
 * touched the lock since this machine booted.
 */
function touchedBeforeBoot(latest: number, bootTime: number | null): boolean {
  return bootTime !== null && latest < bootTime;
}

/**
 * The latest time the holder's last heartbeat may have been: its
 * {@linkcode lastHeartbeat}, or the file's time with its step as allowance,
 * whichever is later. The record's `at` is exact, but a heartbeat made in
 * the same step after it is recorded as the step's start, before `at`: on
 * exFAT or FAT, a lease shorter than the step would otherwise end while
 * its holder still beats.
 */
function latestHeartbeat(
  mtime: number,
  r: LockRecord | null,
  now: number,
): number {
  const beat = lastHeartbeat(mtime, r, now);
  return Math.max(beat + coarseness(beat), mtime + coarseness(mtime));
}

/**
 * A heartbeat before this time has ended the lease, whatever the record's
 * `at` says: `release()` sets a lock file it cannot remove to the epoch (FAT
 * and exFAT keep 1980), and no clock that stamps files is that far behind,
 * unless it was never set.
 */
const LEASE_ENDED_BEFORE = Date.UTC(2000, 0, 1);

/**
 * The holder's last heartbeat as the waiter at `now` may trust it: the lock
 * file's modification time `mtime`, or the record's `at` if that is later
 * (a new lock that the file system stamped by a clock behind the holder's:
 * see the module doc).
 *
 * `at` is needed only until the lock's first heartbeat, `lease / 5` after
 * it, or a stalled holder's lease runs out by `at` as well. But only the
 * holder's clock can tell when its first heartbeat came, and that clock may
 * have been stepped back since it wrote `at` (NTP correcting a clock that
 * ran ahead): then every heartbeat is earlier than `at`, and `at` would keep
 * the lock, its holder dead, until that clock's `at` plus the lease (an hour
 * of skew, an hour of waiting; and a lock of the last boot, stamped after
 * this machine booted, would not be taken over at once). So an `at` more
 * than the lease ahead of `now` does not count, and the file's time decides.
 * A lease, not the margin of clock agreement (`lease / 5`, the README's
 * Limits): a live holder whose clock runs up to a lease ahead of this one
 * keeps its new lock (taking a live lock is worse than waiting), and a dead
 * holder's `at` keeps its lock at most a lease longer than `mtime` does.
 */
function lastHeartbeat(
  mtime: number,
  r: LockRecord | null,
  now: number,
): number {
  if (mtime < LEASE_ENDED_BEFORE || r?.at === undefined || r.at <= mtime) {
    return mtime;
  }
  return r.at - now > r.lease ? mtime : r.at;
}

/** Whether `r` and `me` read pids and start times alike: the same, known, PID and time namespaces. */
function sameNamespaces(r: ProcessIdentity, me: ProcessIdentity): boolean {
  return r.pidns === me.pidns && r.pidns !== "" && r.timens === me.timens;
}

/**
 * Why the lock seen in `seen` may be taken over now, or `null` if its holder
 * may still be working. `lease` is the lease assumed for a record that
 * cannot be read, where the holder cannot be judged either.
 */
export function staleReason(
  seen: Sighting,
  now: number,
  lease: number,
  checks: Checks,
): string | null {
  const r = seen.record;
  const me = checks.me;
  const owner = seen.holder?.owner;
  // The thread that made the lock file: checked whether or not the record
  // can be read (it cannot after a power cut; see the module doc).
  const writer = owner && isKnownWriter(owner) ? owner : null;
  const state = writer ? checks.writerState(writer) : "unknown";
  if (writer && state === "gone") {
    return `holder ${writer.pid} is gone (thread ${writer.thread})`;
  }
  // A record that cannot be read (another user's lock, owner-only, in a
  // sticky directory this user owns; or one still being written) does not
  // say the holder's lease, so a holder proven alive keeps the lock: its
  // lease may be longer than the one assumed here.
  if (r === null && state === "alive") return null;
  const beat = latestHeartbeat(seen.entry.mtimeMs, r, now);
  if (r !== null && r.host === me.host && me.host !== "") {
    if (
      r.boot !== me.boot && r.boot !== "" && me.boot !== "" &&
      touchedBeforeBoot(beat, checks.bootTime())
    ) {
      return "taken before the last boot";
    }
    // The same boot id, read: without one (/proc/sys hidden, as with
    // systemd's ProcSubset=pid), the namespaces alone do not tell this
    // machine from another of the same name, whose initial namespaces bear
    // the same numbers.
    if (sameNamespaces(r, me) && r.boot === me.boot && me.boot !== "") {
      if (!checks.isAlive(r.pid)) return `holder ${r.pid} is dead`;
      const now = checks.processStart(r.pid);
      // A killed holder is a zombie until its parent reaps it: dead already.
      if (now?.zombie) return `holder ${r.pid} is dead (not yet reaped)`;
      if (now && r.start !== "" && now.start !== r.start) {
        return `pid ${r.pid} now belongs to another process`;
      }
      // A provably live holder on this host: the lease still applies (it
      // may be stalled), but only the lease.
    }
  }
  const expiry = beat + (r?.lease ?? lease);
  return now > expiry
    ? `lease expired ${Math.round(now - expiry)} ms ago`
    : null;
}

/** A short description of the holder, for messages. */
export function describeHolder(seen: Sighting): string {
  const r = seen.record;
  return r === null
    ? "a holder still writing its record"
    : `pid ${r.pid} on "${r.host}"`;
}
