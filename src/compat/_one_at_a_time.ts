/**
 * Writes to one file one at a time, as write-file-atomic and atomically run
 * them: an asynchronous write starts only once every write to the same path
 * called before it has settled, whether it succeeded or failed. The core
 * instead starts every write at once and renames them in call order, which
 * holds a temporary file (its space, a descriptor) per write in a burst, and
 * reads the target's bits and owner when each write is called, before the
 * writes ahead of it have changed them.
 *
 * The line is keyed by the absolute path, `.` and `..` resolved as spelled
 * (write-file-atomic's key, `path.resolve()`; atomically keys by the path as
 * given, so `a` and `./a` share a line here and not there). A link and the
 * file it leads to have lines of their own, as with both packages; the core
 * still renames their writes in call order. Synchronous writes take no
 * place in the line and wait for none, as with the packages.
 */
import { resolve } from "node:path";
import { lineUp } from "../_line.ts";
import { shared } from "../_shared_state.ts";

/** The lines of every copy of the library in the thread (`_shared_state.ts`). */
const lines = shared("compatLines", () => new Map());

/**
 * Runs `write` once every write called before it through this function for
 * `target` (absolute) has settled, and settles with it.
 *
 * @example Usage
 * ```ts ignore
 * await oneAtATime("/srv/app/config.json", () => writeResolved(...));
 * ```
 */
export async function oneAtATime<T>(
  target: string,
  write: () => Promise<T>,
): Promise<T> {
  const place = lineUp(lines, resolve(target));
  try {
    await place.ahead;
    return await write();
  } finally {
    place.leave();
  }
}
