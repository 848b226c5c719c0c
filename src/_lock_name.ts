/**
 * Names of lock files: `.{name}.atomic-lock` beside the target,
 * `.{name}.{token}.atomic-reclaim` for the mutex that one process holds while
 * it removes a stale lock (see `_lock.ts`), and `.{name}.atomic-queue` for
 * the directory where waiters line up (`_lock_queue.ts`). All end in a suffix no user file
 * is likely to have, are hidden, and fit in 255 bytes (NAME_MAX on Linux,
 * macOS and Windows) for any target name: a target name too long to fit is
 * cut and a hash of the whole name is added, so two long names that share a
 * beginning still get different locks. Both are taken from the name folded
 * as a case-insensitive file system compares names (`_fold_case.ts`): there
 * `A…` and `a…` are one file, and must have one lock. A name is kept as it
 * is (the file system itself folds it) only if every spelling of it fits,
 * so that all spellings of one file take the same branch: spellings can
 * differ in length (`Ⱥ` has 2 bytes, `ⱥ` 3; the Kelvin sign has 3 bytes,
 * `K` 1; a decomposed `é` 3, a composed one 2). On other file systems two
 * long names that differ only in case then share a lock, which costs a
 * wait, never exclusion.
 */
import { createHash } from "node:crypto";
import { foldCase } from "./_fold_case.ts";
import { tempNameOwner, truncateUtf8 } from "./_temp_name.ts";

/** The fixed ending of every lock file. */
const LOCK_SUFFIX = ".atomic-lock";
/** The fixed ending of every reclaim mutex. */
const RECLAIM_SUFFIX = ".atomic-reclaim";
/** The fixed ending of every queue directory (shorter than a reclaim mutex's). */
const QUEUE_SUFFIX = ".atomic-queue";

const MAX_NAME_BYTES = 255;
/** Length of the tokens that name records (`_lock_record.ts`). */
export const TOKEN_CHARS = 16;

/** A token derived from `text`: its SHA-256, cut to {@linkcode TOKEN_CHARS} hex digits. */
export function tokenHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, TOKEN_CHARS);
}

/** The longest stem that leaves room for `.{stem}.{token}.atomic-reclaim`. */
const MAX_STEM_BYTES = MAX_NAME_BYTES - 2 - TOKEN_CHARS - RECLAIM_SUFFIX.length;
const HASH_CHARS = 16;
const encoder = new TextEncoder();

const lockPattern = /^\.(.+)\.atomic-lock$/s;
const reclaimPattern = /^\.(.+)\.([0-9a-f]{16})\.atomic-reclaim$/s;
const queuePattern = /^\.(.+)\.atomic-queue$/s;
/** A ticket in a queue directory: the time its waiter lined up (14 hex digits of µs), then a temporary name's tail. */
const ticketPattern = /^\.[0-9a-f]{14}\./;

/**
 * The most bytes any spelling of a name folded to `folded` can have: 3 for
 * an ASCII letter (the Kelvin sign, a long s), 1 for any other ASCII
 * character (no case), 3 times its own for any other character (its other
 * case forms, decomposed: a letter and its marks).
 */
function widestSpelling(folded: string): number {
  let bytes = 0;
  for (const char of folded) {
    bytes += char < "\x80"
      ? (/[A-Z]/.test(char) ? 3 : 1)
      : 3 * encoder.encode(char).length;
  }
  return bytes;
}

/** The part of the lock names that stands for the target name `base`. */
function stem(base: string): string {
  const folded = foldCase(base);
  if (widestSpelling(folded) <= MAX_STEM_BYTES) return base;
  const hash = createHash("sha256").update(folded).digest("hex");
  return `${truncateUtf8(folded, MAX_STEM_BYTES - 1 - HASH_CHARS)}~${
    hash.slice(0, HASH_CHARS)
  }`;
}

/** The lock file name for the target file name `base`. */
export function lockName(base: string): string {
  return `.${stem(base)}${LOCK_SUFFIX}`;
}

/** The name of the mutex for reclaiming the lock record named by `token`, beside lock `lock`. */
export function reclaimName(lock: string, token: string): string {
  return `${lock.slice(0, -LOCK_SUFFIX.length)}.${token}${RECLAIM_SUFFIX}`;
}

/**
 * The lock file name that `name` belongs to, if `name` has the shape of a
 * lock file or a reclaim mutex of ours; `null` otherwise.
 */
export function lockOf(name: string): string | null {
  if (lockPattern.test(name)) return name;
  const match = reclaimPattern.exec(name);
  return match ? `.${match[1]}${LOCK_SUFFIX}` : null;
}

/** The name of the waiters' queue directory beside the lock file named `lock`. */
export function queueName(lock: string): string {
  return `${lock.slice(0, -LOCK_SUFFIX.length)}${QUEUE_SUFFIX}`;
}

/** Whether `name` has the shape of a queue directory's name. */
export function isQueueName(name: string): boolean {
  return queuePattern.test(name);
}

/** Whether `name` has the shape of a waiter's ticket in a queue directory (`_lock_queue.ts`). */
export function isTicketName(name: string): boolean {
  return ticketPattern.test(name) && tempNameOwner(name) !== null;
}
