/**
 * The line of waiters for a contended lock, so that a release wakes one
 * waiter instead of all of them.
 *
 * Watching the lock file wakes every waiter at each release (`_watch.ts`):
 * measured with 6 Node processes updating one file on 2 cores, each wake-up
 * cost a waiter ~0.5 ms of CPU (a failed link, a new watch, the event loop's
 * turn), taken from the holder, and 6 processes managed about half the
 * update rate of one, where 2 (one waiter) managed 0.97x. So a waiter that
 * finds the lock taken lines up: it makes an empty *ticket* in the lock's
 * queue directory (`.{name}.atomic-queue`, `_lock_name.ts`), named after the
 * time it lined up and after itself (a temporary name, `_temp_name.ts`), and
 * waits on the ticket just ahead of its own (the one with the next smaller
 * name) instead of the lock; the first in line waits on the lock file. A
 * waiter keeps its ticket while it holds the lock and removes it only after
 * the lock's name (`_lock_hold.ts`), so that the one behind wakes when the
 * lock is free, and not before.
 *
 * The line is advice, never exclusion: the lock is still only the link of
 * `_lock.ts`, and every waiter still tries it on its own timer, however it
 * is lined up. So whatever goes wrong with the line costs time, never
 * safety:
 * - a ticket that cannot be made (no permission, a full disk) means waiting
 *   on the lock file, as without a line;
 * - a waiter whose ticket went (a sweep) waits on the lock file;
 * - a waiter that died leaves a ticket: the one behind it removes it once
 *   its writer is proven gone (same host, boot, PID namespace, and a dead
 *   or reused pid), and otherwise still tries the lock on its timer;
 *   `removeStaleTemps` sweeps tickets as temporary files, and removes the
 *   directory once empty;
 * - two waiters that line up in the same microsecond, or with clocks apart
 *   (hosts sharing a network file system), are ordered by their names all
 *   the same: a late waiter may come before one that came earlier, which
 *   costs fairness only.
 *
 * In a shared sticky directory (`/tmp`) there is no line: another user
 * could have made the queue directory, or a link by that name, and lead the
 * waiters' tickets anywhere.
 */
import { basename, dirname } from "node:path";
import { errorCode } from "./_error_code.ts";
import { inDirectory } from "./_replacement.ts";
import { isTicketName, queueName } from "./_lock_name.ts";
import { isSharedSticky } from "./_sticky.ts";
import { ownerState, tempName, tempNameOwner } from "./_temp_name.ts";
import {
  all,
  both,
  type Request,
  request,
  settle,
  type Steps,
} from "./_steps.ts";
import type { OpenFile, RuntimeAdapter } from "./runtime/types.ts";
import { monotonic, timeOrigin, wallClock } from "./_clock.ts";

/** A waiter's place in the line of one lock. */
export interface Ticket {
  /** The queue directory. */
  readonly queue: string;
  /** The ticket's name in it. */
  readonly name: string;
  /** The ticket file. */
  readonly path: string;
  /** The ticket, still open: closed as it is removed, one round trip fewer in line. */
  readonly file: OpenFile;
  /** When its modification time was last set, by `wallClock()` (see {@linkcode refresh}). */
  touchedAt: number;
}

/** A waiter just lined up, and what it waits on (see {@linkcode ahead}). */
export interface Joined {
  readonly ticket: Ticket;
  readonly ahead: Ahead | null;
}

/** Hex digits of the time in a ticket's name: microseconds until the year 4400. */
const KEY_DIGITS = 14;
/** Tickets hold nothing; anyone who may take the lock may read them. */
const TICKET_MODE = 0o644;
/** How many times to make the queue directory again when it went meanwhile (the last waiter out removes it). */
const JOIN_TRIES = 3;
/**
 * A waiter sets its ticket's modification time this often while it waits
 * (at its next wake: a waiter behind a ticket wakes every 250 ms at the
 * latest)...
 */
const TICKET_BEAT_MS = 1000;
/**
 * ...and a ticket whose writer cannot be judged (another PID namespace or
 * host, no /proc: Deno without `--allow-all`) is abandoned once its time is
 * this old: its waiter was killed, or has been stalled for that long (it
 * then finds its ticket gone and waits on the lock file instead).
 */
const TICKET_ABANDONED_MS = 10_000;

/** The queue directory of the lock file `lock`. */
export function queuePathFor(lock: string): string {
  return inDirectory(dirname(lock), queueName(basename(lock)));
}

/** The first part of a ticket's name: when its waiter lined up, so names sort in that order. */
function lineUpKey(): string {
  const micros = Math.floor(
    (timeOrigin + monotonic()) * 1000,
  );
  return micros.toString(16).padStart(KEY_DIGITS, "0");
}

/**
 * Lines up for the lock file `lock`: makes a ticket in its queue directory
 * (and the directory if need be), and reads the line alongside (its name is
 * known before it exists: the tickets ahead are those named before it).
 * `null` where there is no line: a shared sticky directory, or a ticket
 * that could not be made. The ticket is in `inFlight` (removed at exit)
 * from before it exists.
 */
export function* join(
  adapter: RuntimeAdapter,
  lock: string,
  inFlight?: Set<string>,
): Steps<Joined | null> {
  const dir = yield* settle(request("stat", dirname(lock)));
  if (!dir.ok || dir.value === null || isSharedSticky(dir.value, true)) {
    return null;
  }
  const queue = queuePathFor(lock);
  const now = wallClock();
  const name = tempName(lineUpKey(), adapter.writer());
  const path = inDirectory(queue, name);
  inFlight?.add(path);
  let madeQueue = false;
  for (let tries = 0; tries < JOIN_TRIES; tries++) {
    const [made, listed] = yield* both(
      request("createExclusive", path, TICKET_MODE),
      request("readDir", queue),
    );
    if (made.ok) {
      const ticket = { queue, name, path, file: made.value, touchedAt: now };
      const line = listed.ok ? listed.value : [];
      return { ticket, ahead: yield* pick(adapter, ticket, line, false) };
    }
    if (errorCode(made.error) !== "ENOENT") break;
    madeQueue = (yield* settle(request("mkdir", queue))).ok;
    if (!madeQueue) break;
  }
  inFlight?.delete(path);
  // No ticket (a full disk): the directory made for it goes, as the last
  // waiter out removes it (it stays if another waiter's ticket is in it).
  if (madeQueue) yield* settle(request("removeDir", queue));
  return null;
}

/** The ticket just ahead of a waiter's own, and how many are ahead of it. */
export interface Ahead {
  readonly path: string;
  readonly place: number;
}

/**
 * What the holder of `ticket` waits on: the ticket just ahead of it, or
 * `null` if it is first in line, or the line cannot be read now (it then
 * waits on the lock file), or `"lost"` if its own ticket is gone. With
 * `judge`, the tickets ahead whose writer is proven gone are removed on the
 * way (the waiter behind a dead one would otherwise only have its timer).
 */
export function* ahead(
  adapter: RuntimeAdapter,
  ticket: Ticket,
  judge: boolean,
): Steps<Ahead | null | "lost"> {
  const listed = yield* settle(request("readDir", ticket.queue));
  if (!listed.ok) return null; // the ticket stays, for the next look
  if (!listed.value.includes(ticket.name)) return "lost";
  return yield* pick(adapter, ticket, listed.value, judge);
}

/** {@linkcode ahead}, in the line `line` (the names in the queue directory). */
function* pick(
  adapter: RuntimeAdapter,
  ticket: Ticket,
  line: readonly string[],
  judge: boolean,
): Steps<Ahead | null> {
  const earlier = line
    .filter((name) => name < ticket.name && isTicketName(name))
    .sort()
    .reverse();
  for (const [i, name] of earlier.entries()) {
    const path = inDirectory(ticket.queue, name);
    if (!judge || !(yield* isAbandoned(adapter, path, name))) {
      return { path, place: earlier.length - i };
    }
    yield* settle(request("remove", path));
  }
  return null;
}

/**
 * Whether the ticket `name` at `path` was left by a waiter that no longer
 * waits: its writer is proven gone, or cannot be judged and the ticket has
 * not been refreshed for {@linkcode TICKET_ABANDONED_MS}.
 */
function* isAbandoned(
  adapter: RuntimeAdapter,
  path: string,
  name: string,
): Steps<boolean> {
  const state = ownerState(tempNameOwner(name)!, adapter.writerState);
  if (state !== "unknown") return state === "gone";
  const entry = yield* settle(request("lstat", path));
  return entry.ok && entry.value !== null &&
    wallClock() - entry.value.mtimeMs > TICKET_ABANDONED_MS;
}

/** Sets the ticket's modification time if it was last set {@linkcode TICKET_BEAT_MS} ago or more: its waiter still waits. */
export function* refresh(ticket: Ticket): Steps<void> {
  const now = wallClock();
  if (now - ticket.touchedAt < TICKET_BEAT_MS) return;
  ticket.touchedAt = now;
  yield* settle(request("touch", ticket.file, now));
}

/**
 * Leaves the line: removes the ticket (alongside the requests in
 * `alongside`), then the queue directory if it was the last one in it.
 */
export function* leave(
  ticket: Ticket,
  alongside: readonly Request<unknown>[] = [],
): Steps<void> {
  yield* all([
    request("remove", ticket.path),
    request("close", ticket.file),
    ...alongside,
  ]);
  yield* settle(request("removeDir", ticket.queue));
}
