/**
 * Seeing a lock: its file, its record, and the holder's own name for it
 * when the record cannot be read (see `_lock_record.ts`).
 */
import { basename, dirname } from "node:path";
import { inDirectory } from "./_replacement.ts";
import {
  type HolderName,
  holderNamed,
  identityToken,
  parseRecord,
  type Sighting,
} from "./_lock_record.ts";
import { isKnownWriter, isTempNameFor } from "./_temp_name.ts";
import { all, request, settle, type Settled, type Steps } from "./_steps.ts";
import type { EntryInfo } from "./runtime/types.ts";
import { act, lockError, type LockPlan } from "./_lock.ts";

/** The lock file at `path` as it is now, or `null` if there is none. */
export function* look(plan: LockPlan, path: string): Steps<Sighting | null> {
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
      : record === null && isKnownWriter(plan.adapter.writer())
      ? yield* findHolder(path, entry)
      : null, // a process that cannot name itself cannot judge a name either
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
