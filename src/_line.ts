/**
 * A line per key, first come first served: each call lines up behind those
 * made before it for the same key, and its turn comes once every one of
 * them has left. A line that empties is removed, so that a key costs
 * nothing once its calls are done. What waits in a line (a lock's
 * acquisitions, a compat entry point's writes to one path) and what keeps
 * the process alive meanwhile are for the caller to say.
 */

/** One place in a line. */
export interface Turn {
  /** Resolves once this place is first in line. */
  readonly comes: Promise<void>;
  /** Makes it first. */
  readonly start: () => void;
}

/** The lines, by key. */
export type Lines = Map<string, Turn[]>;

/** A caller's place in its line. */
export interface Place {
  /** Resolves once every place taken before this one for the key has left. */
  readonly ahead: Promise<void>;
  /** Whether a place taken before this one was still in line when it was taken. */
  readonly waits: boolean;
  /**
   * Leaves the line (while waiting, or when done), handing the turn on if
   * this place was first. Idempotent.
   */
  readonly leave: () => void;
}

/**
 * Takes the next place in `lines`' line for `key`.
 *
 * @example Usage
 * ```ts ignore
 * const place = lineUp(lines, "/srv/app/config.json");
 * try {
 *   await place.ahead;
 *   await work();
 * } finally {
 *   place.leave();
 * }
 * ```
 */
export function lineUp(lines: Lines, key: string): Place {
  let line = lines.get(key);
  if (line === undefined) lines.set(key, line = []);
  const mine = line;
  const { promise, resolve } = Promise.withResolvers<void>();
  const turn: Turn = { comes: promise, start: resolve };
  mine.push(turn);
  const waits = mine.length > 1;
  if (!waits) turn.start();
  const leave = () => {
    const at = mine.indexOf(turn);
    if (at === -1) return;
    mine.splice(at, 1);
    if (mine.length === 0) {
      if (lines.get(key) === mine) lines.delete(key);
    } else if (at === 0) mine[0].start();
  };
  return { ahead: turn.comes, waits, leave };
}
