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
 * no cycle. A write waiting here has not looked for its file yet, so, as an
 * `AtomicWriter`'s data waiting behind its running write, it holds back the
 * renames of the writes called after it in the thread, to any file, until it
 * starts; a hook or stream of the write ahead of it that waits for one of
 * those closes a cycle, and they all wait for good (README, "Call order per
 * file").
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
  const place = lineUp(lines, resolve(target));
  const ticket = takeTicket(target);
  try {
    await place.ahead;
    return await write(ticket);
  } finally {
    place.leave();
  }
}
