/**
 * Group commit for directory fsyncs. Writers that finish together share one
 * fsync of their directory instead of queueing one each; none is skipped.
 * A caller never joins a flush that was already running when it asked (that
 * flush may have started before the caller's rename): it joins the next one,
 * which every caller arriving meanwhile shares.
 */
import type { Deferred } from "./_deferred.ts";

interface Slot<F> {
  next: Deferred<void> | null;
  /**
   * The directory as the next flush's first caller holds it open, if it
   * does: that caller keeps it open until the flush it waits for is done.
   */
  nextHeld: F | undefined;
}

/**
 * Wraps `flush(dir, held)` so that overlapping calls for one directory share
 * flushes; `held` is the directory already open, if the caller holds it
 * (a flush then makes no open of its own). Calls share by the directory
 * they hold, else by its path: two directories that one path led to in
 * turn (the first renamed away, a new one made by its name) are two
 * directories, and each is fsynced, through its own descriptor.
 */
export function groupCommit<F>(
  flush: (dir: string, held?: F) => Promise<void>,
): (dir: string, held?: F) => Promise<void> {
  const slots = new Map<string | F, Slot<F>>();

  function start(
    key: string | F,
    dir: string,
    slot: Slot<F>,
    held?: F,
  ): Promise<void> {
    const running = flush(dir, held);
    const after = () => {
      const waiting = slot.next;
      if (waiting === null) {
        slots.delete(key);
        return;
      }
      const nextHeld = slot.nextHeld;
      slot.next = null;
      slot.nextHeld = undefined;
      start(key, dir, slot, nextHeld).then(waiting.resolve, waiting.reject);
    };
    running.then(after, after);
    return running;
  }

  return (dir, held) => {
    // A descriptor is one directory while it is open, and it is: its
    // holder keeps it open until the flush it waits for is done.
    const key = held ?? dir;
    const slot = slots.get(key);
    if (slot === undefined) {
      const fresh: Slot<F> = { next: null, nextHeld: undefined };
      slots.set(key, fresh);
      return start(key, dir, fresh, held);
    }
    if (slot.next === null) {
      slot.next = Promise.withResolvers<void>();
      slot.nextHeld = held;
    }
    return slot.next.promise;
  };
}
