/**
 * The state this library keeps per thread, shared by every copy of the
 * library loaded in the thread. An application can load two copies: two
 * dependencies that each bring their own, or the npm build beside the JSR
 * source. Copies that kept their own state would each take the other for a
 * foreign process with the same pid: a synchronous lock in one would wait
 * out the lease of the other's lock and take it over instead of failing
 * with `EDEADLK`, and writes through both to one file would rename out of
 * call order.
 *
 * So the state lives in one registry on `globalThis` (one per thread: a
 * worker has its own), made by whichever copy asks first. Its key names the
 * version of the state's shape: the fields below, the methods and fields
 * of the objects in them, and what their strings mean (lock and temporary
 * file names, file identities). Change any of those and the version goes
 * up, so that a copy never reads an object it does not understand; copies
 * of different versions then keep apart, as before this registry.
 */
import type { InFlightFiles } from "./_context.ts";
import type { KnownFiles } from "./_known_files.ts";
import type { Tail, Ticket, Writes } from "./_path_queue.ts";
import type { Lines } from "./_line.ts";

/**
 * The registry's key on `globalThis`: version 4 added the compat entry
 * points' lines and tickets.
 */
export const STATE_KEY: symbol = Symbol.for("@x/atomic/state@4");

/** What the copies of one state version share, each field made when first asked for. */
export interface SharedState {
  /** The temporary files and lock files in flight, and their exit hook (`_context.ts`). */
  inFlight?: InFlightFiles;
  /** The lock files this thread holds, by identity (`_context.ts`). */
  heldLocks?: Set<string>;
  /** Where regular files were last found (`_known_files.ts`). */
  knownFiles?: KnownFiles;
  /** The last write of each path as spelled (`_path_queue.ts`). */
  tails?: Map<string, Tail>;
  /** The writes not renamed yet (`_path_queue.ts`). */
  writes?: Writes;
  /** How many writes wait for their turn with their files open (`_async_phases.ts`). */
  openWhileWaiting?: { count: number };
  /** The asynchronous lock acquisitions of each file, in call order (`_lock_wait.ts`). */
  lockLines?: Lines;
  /**
   * The asynchronous writes of the compat entry points to each file, in
   * call order (`compat/_one_at_a_time.ts`).
   */
  compatLines?: Lines;
  /**
   * The ticket of the last write lined up in each of those lines
   * (`compat/_one_at_a_time.ts`).
   */
  compatTickets?: Map<string, Ticket>;
}

/** The thread's `field`, made with `make` if no copy has made it yet. */
export function shared<K extends keyof SharedState>(
  field: K,
  make: () => NonNullable<SharedState[K]>,
): NonNullable<SharedState[K]> {
  const global = globalThis as Record<symbol, SharedState | undefined>;
  if (global[STATE_KEY] === undefined) {
    Object.defineProperty(globalThis, STATE_KEY, { value: {} });
  }
  const state = global[STATE_KEY] as SharedState;
  return (state[field] ??= make()) as NonNullable<SharedState[K]>;
}
