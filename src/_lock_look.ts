/**
 * Seeing a lock: its file, its record, and the holder's own name for it
 * when the record cannot be read (see `_lock_record.ts`).
 */
import { basename, dirname } from "node:path";
import type { AtomicWriteError } from "./atomic_write_error.ts";
import { inDirectory, resolution, writerOf } from "./_replacement.ts";
import { type Owned, plantedBy, untrustedOwner } from "./_sticky.ts";
import {
  type HolderName,
  holderNamed,
  identityToken,
  parseRecord,
  type Sighting,
} from "./_lock_record.ts";
import { isKnownWriter, isTempNameFor } from "./_temp_name.ts";
import {
  all,
  perform,
  request,
  settle,
  type Settled,
  type Steps,
} from "./_steps.ts";
import type { EntryInfo } from "./runtime/types.ts";
import { act, lockError, type LockPlan } from "./_lock.ts";
import { codeOf, errorCode } from "./_error_code.ts";

/** The most a lock file may hold: a record takes a few hundred bytes. */
const MAX_LOCK_BYTES = 64 * 1024;

/** The refusal of whatever is at the lock file's name and is not ours. */
function inTheWay(plan: LockPlan, path: string): AtomicWriteError {
  return lockError(
    plan,
    "EEXIST",
    "lock",
    path,
    "the file is in the way and is not a lock file of @x/atomic",
  );
}

/**
 * Refuses, before reading it, what is at the lock file's name if reading it
 * could hurt: anything but a small regular file (a link to `/dev/zero` would
 * be read until memory runs out, a FIFO would block the read for good), and
 * a file another user made in a shared sticky directory such as `/tmp`
 * (they could swap a FIFO in between this check and the read).
 */
function* checkBeforeReading(
  plan: LockPlan,
  path: string,
  entry: EntryInfo,
): Steps<void> {
  if (entry.kind !== "file" || entry.size > MAX_LOCK_BYTES) {
    throw inTheWay(plan, path);
  }
  yield* checkLockOwner(plan, path, entry);
}

/**
 * Refuses the lock file at `path`, made by `file`'s owner, if another user
 * made it in a shared sticky directory: by its `lstat` before it is read,
 * and by the file read (another could have been renamed in between).
 */
function* checkLockOwner(
  plan: LockPlan,
  path: string,
  file: Owned,
): Steps<void> {
  const s = resolution(path, writerOf(plan.adapter));
  const planted = yield* plantedBy(s, path, file);
  if (planted !== null) {
    // Without its own uid (Deno without --allow-sys), the process cannot
    // tell its own file from another user's: it says so.
    throw lockError(
      plan,
      "EACCES",
      "lock",
      path,
      `the lock file belongs to ${
        untrustedOwner(planted.uid, plan.adapter.ids())
      } in ${planted.shared}, and is not read (the rule of fs.protected_regular)`,
    );
  }
}

/**
 * The bytes of the lock file at `path`, or `null` if it is gone. Another
 * user's lock in a shared sticky directory is owner-only
 * (`PRIVATE_LOCK_MODE`): its record is unreadable, as one still being
 * written (no bytes), and the holder is judged without it. A symbolic link
 * renamed to the name since its `lstat` (which the read does not follow)
 * is in the way, as one seen there.
 */
function* readLock(plan: LockPlan, path: string): Steps<Uint8Array | null> {
  const read = yield* settle(request("readFile", path));
  if (read.ok) {
    if (read.value === null) return null;
    yield* checkLockOwner(plan, path, read.value);
    return read.value.bytes;
  }
  const code = errorCode(read.error);
  if (code === "EACCES") return new Uint8Array(0);
  if (code === "ELOOP") throw inTheWay(plan, path);
  throw lockError(
    plan,
    codeOf(read.error),
    "read lock",
    path,
    undefined,
    read.error,
  );
}

/**
 * The lock file at `path` as it is now, or `null` if there is none.
 * `found` is its `lstat` if the caller just made it.
 */
export function* look(
  plan: LockPlan,
  path: string,
  found?: EntryInfo,
): Steps<Sighting | null> {
  const before = found ??
    (yield* act(plan, "stat lock", path, request("lstat", path)));
  if (before === null) return null;
  yield* checkBeforeReading(plan, path, before);
  // Read first, described after: a record older than the description errs
  // towards a living holder (a newer lock's heartbeat), never the reverse.
  const bytes = yield* readLock(plan, path);
  if (bytes === null) return null;
  const entry = yield* act(plan, "stat lock", path, request("lstat", path));
  if (entry === null) return null;
  const record = parseRecord(bytes);
  if (record === undefined) throw inTheWay(plan, path);
  return {
    entry,
    record,
    token: record?.token ?? identityToken(entry),
    holder: record?.file !== undefined
      ? holderNamed(record.file)
      : record === null && isKnownWriter(plan.adapter.writer())
      ? yield* findHolder(path, entry)
      : null, // a process that cannot name itself cannot judge a name either
  };
}

/**
 * Whether `entry`, found at `path`, is the lock file known by its identity
 * `id` and its record's `token`. The identity (device and inode) says so
 * only while the file `id` is `pinned`: kept alive by a name or a
 * descriptor of the caller's, looked at in the same round trip as `entry`.
 * A number names one file only while that file lives: once nothing links
 * it any more (its names removed by hand, or by a reclaim), ext4 and xfs
 * give its inode number at once to the next file made, the next locker's,
 * and an identity alone would take that lock for this one. Where each name
 * of a file has a number of its own (sshfs numbers every name it looks up,
 * since SFTP passes no inode numbers), the lock's name and the holder's own
 * name never match either. Then the record's token decides: a random 64-bit
 * value, written once per lock (a lock without a record is known by the
 * hash of its identity and time, `identityToken`).
 */
export function* isSameLock(
  plan: LockPlan,
  path: string,
  entry: EntryInfo | null,
  id: string,
  token: string,
  pinned: boolean,
): Steps<boolean> {
  if (entry === null) return false;
  if (entry.id === id && pinned) return true;
  try {
    let seen = yield* look(plan, path, entry);
    // A record that cannot be read yet is a new holder's being written, or
    // (on sshfs, whose kernel cache may still hold the size of the file the
    // name had before) this holder's own, read short: looked at again.
    for (const ms of UNREAD_RECORD_RETRIES_MS) {
      if (seen === null || seen.record !== null) break;
      yield* perform(request("sleep", ms));
      seen = yield* look(plan, path);
    }
    return seen?.token === token;
  } catch {
    return false; // not a lock of ours: certainly not this one
  }
}

/**
 * The pauses before each new look at a lock file whose record could not be
 * read, when telling whether it is this holder's (`isSameLock`): 150 ms in
 * all. Measured on sshfs under load (6 processes of three runtimes), one
 * update in about 500 failed for want of them.
 */
const UNREAD_RECORD_RETRIES_MS = [5, 20, 50, 75];

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
  // Identities alone: a number reused since `entry` only misnames whom a
  // lock is judged by, and a name of a live holder's pins its file's number.
  const i = entries.findIndex((e) => e.ok && e.value?.id === entry.id);
  return i < 0 ? null : holderNamed(names[i]);
}
