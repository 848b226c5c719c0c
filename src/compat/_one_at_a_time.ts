/**
 * Writes to one file one at a time, as write-file-atomic and atomically run
 * them: an asynchronous write starts (makes its temporary file, reads the
 * target's bits and owner) only once every write to the same path called
 * before it through this function has settled, whether it succeeded or
 * failed. The core instead starts every write at once and renames them in
 * call order, which holds a temporary file (its space, a descriptor) per
 * write in a burst, and reads the target's bits and owner when each write is
 * called, before the writes ahead of it have changed them.
 *
 * Each write still takes its place in the core's call order (its ticket,
 * `_path_queue.ts`) when it is called, before it waits here: a core write
 * called after it, or a compat write that reaches the same file by another
 * path, renames after it, so the file ends with the last call's data
 * (atomically's `schedule` is awaited before this function is called: such
 * a write takes its place once the schedule resolves). Places here are taken
 * in the same step as tickets, so a write waits here only for writes with
 * earlier tickets, as every wait of the core goes: the library's waits form
 * no cycle. A write waiting here takes for its own the file that the write
 * ahead of it in its line found (links followed): the writes called after
 * it, to other files, see at once that it is not theirs, instead of waiting
 * for it to start and look. Where the write ahead found none (it failed
 * first), it holds back their renames until it starts, as an
 * `AtomicWriter`'s data waiting behind its running write does (README,
 * "Call order per file"); and where a link on its path changes while it
 * waits, its rename is ordered as if it had not.
 *
 * The line is keyed by the absolute path, `.` and `..` resolved as spelled
 * (write-file-atomic's key, `path.resolve()`; atomically keys by the path as
 * given, so `a` and `./a` share a line here and not there). A link and the
 * file it leads to have lines of their own, as with both packages: a write
 * through one may start while a write through the other runs, but their
 * renames land in call order. Synchronous writes take no place in the line
 * and no ticket, and wait for none, as with the packages.
 */
import { resolve } from "node:path";
import { lineUp } from "../_line.ts";
import { takeTicket, type Ticket } from "../_path_queue.ts";
import { shared } from "../_shared_state.ts";

/** The lines of every copy of the library in the thread (`_shared_state.ts`). */
const lines = shared("compatLines", () => new Map());

/** The ticket of the last write lined up for each path, while any is in its line. */
const lastTickets = shared("compatTickets", () => new Map<string, Ticket>());

/**
 * Takes `target`'s (absolute) next ticket at once, then runs `write` with it
 * once every write called before it through this function for `target` has
 * settled, and settles with it. `write` must use the ticket or pass it on
 * (`writeResolved` does either), or the writes after it never rename.
 *
 * @example Usage
 * ```ts ignore
 * await oneAtATime(
 *   target,
 *   (ticket) => writeResolved(target, bytes, options, context, ticket),
 * );
 * ```
 */
export async function oneAtATime<T>(
  target: string,
  write: (ticket: Ticket) => Promise<T>,
): Promise<T> {
  const key = resolve(target);
  const place = lineUp(lines, key);
  const ticket = takeTicket(target);
  const ahead = lastTickets.get(key);
  lastTickets.set(key, ticket);
  // The write ahead in the line replaces the file this one will (one path,
  // unless a link on it changes meanwhile): found, it is this one's too, so
  // that the writes called after this one, to other files, need not wait
  // for it to start to know it is not theirs. One that will replace none
  // (it failed first) tells nothing: this one finds its file itself.
  if (place.waits && ahead !== undefined) {
    void ahead.finds.then((final) => {
      if (final !== null) ticket.found(final);
    });
  }
  try {
    await place.ahead;
    return await write(ticket);
  } catch (error) {
    // Whatever failed before the write took its ticket, the writes after
    // it must not wait for it (for one that did, this changes nothing).
    ticket.pass();
    throw error;
  } finally {
    place.leave();
    if (lastTickets.get(key) === ticket) lastTickets.delete(key);
  }
}
