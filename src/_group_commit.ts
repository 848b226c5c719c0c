/**
 * Group commit for directory fsyncs. Writers that finish together share one
 * fsync of their directory instead of queueing one each; none is skipped.
 * A caller never joins a flush that was already running when it asked (that
 * flush may have started before the caller's rename): it joins the next one,
 * which every caller arriving meanwhile shares.
 */

interface Slot {
  next: PromiseWithResolvers<void> | null;
}

/** Wraps `flush(dir)` so that overlapping calls for one directory share flushes. */
export function groupCommit(
  flush: (dir: string) => Promise<void>,
): (dir: string) => Promise<void> {
  const slots = new Map<string, Slot>();

  function start(dir: string, slot: Slot): Promise<void> {
    const running = flush(dir);
    const after = () => {
      const waiting = slot.next;
      if (waiting === null) {
        slots.delete(dir);
        return;
      }
      slot.next = null;
      start(dir, slot).then(waiting.resolve, waiting.reject);
    };
    running.then(after, after);
    return running;
  }

  return (dir) => {
    const slot = slots.get(dir);
    if (slot === undefined) {
      const fresh: Slot = { next: null };
      slots.set(dir, fresh);
      return start(dir, fresh);
    }
    slot.next ??= Promise.withResolvers<void>();
    return slot.next.promise;
  };
}
