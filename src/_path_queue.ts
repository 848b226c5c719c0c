/**
 * Call order for writes to one path within this process. Each write takes a
 * ticket when it is called; writes prepare and fill their temporary files
 * concurrently, but rename in ticket order and settle in ticket order, so the
 * file ends with the last call's data and promises resolve in call order.
 */
import { resolve } from "node:path";

/** One write's place in the queue of its path. */
export interface Ticket {
  /** Resolves when every earlier write to the path has renamed (or failed); `null` if none is pending. */
  readonly mayRename: Promise<void> | null;
  /** Resolves when every earlier write to the path has settled; `null` if none is pending. */
  readonly maySettle: Promise<void> | null;
  /** Tells later writes that this one has renamed or will not. Idempotent. */
  renamed(): void;
  /** Tells later writes that this one has settled. Idempotent. */
  settled(): void;
}

interface Tail {
  renamed: Promise<void>;
  settled: Promise<void>;
}

const tails = new Map<string, Tail>();

/** Takes the next ticket for `path`. */
export function takeTicket(spelled: string): Ticket {
  // Spellings of one path share a queue (`a/./b`, `a//b`); see the README
  // for paths that reach one file through links.
  const path = resolve(spelled);
  const previous = tails.get(path);
  const renamed = Promise.withResolvers<void>();
  const settled = Promise.withResolvers<void>();
  const mine: Tail = { renamed: renamed.promise, settled: settled.promise };
  tails.set(path, mine);
  return {
    mayRename: previous?.renamed ?? null,
    maySettle: previous?.settled ?? null,
    renamed: () => renamed.resolve(),
    settled: () => {
      settled.resolve();
      if (tails.get(path) === mine) tails.delete(path);
    },
  };
}

/** Settles `work` in `ticket`'s turn: after every earlier write to the path has settled. */
export async function settleInTurn<T>(
  ticket: Ticket,
  work: Promise<T>,
): Promise<T> {
  try {
    return await work;
  } finally {
    ticket.renamed();
    if (ticket.maySettle) await ticket.maySettle;
    ticket.settled();
  }
}
