/**
 * The vocabulary of the algorithm. Its steps are generators that *yield*
 * requests for adapter operations instead of calling them, so one algorithm
 * is driven synchronously or asynchronously (see `_run.ts`). A worked
 * example, one step under both runners:
 *
 * ```ts ignore
 * function* kindOf(path: string): Steps<string> {
 *   const entry = yield* perform(request("lstat", path)); // EntryInfo | null
 *   return entry === null ? "absent" : entry.kind;
 * }
 * runSync(kindOf("/etc/hosts"), adapter.sync);         // lstatSync, returns
 * await runAsync(kindOf("/etc/hosts"), adapter.async); // awaits lstat
 * ```
 *
 * A runner takes each yielded request, runs `ops[name](...args)`, and sends
 * the result back into the generator, or throws the operation's error into
 * it at the `yield`. Most steps use two verbs: {@linkcode perform} (the
 * result, or the error thrown) and {@linkcode settle} (the outcome as a
 * value, never throwing).
 *
 * {@linkcode all} (and its pair form {@linkcode both}) runs several requests
 * at once under the asynchronous runner, one after another under the
 * synchronous one; either way each outcome comes back settled. The replace
 * algorithm and the lock use it wherever requests that do not depend on
 * each other would otherwise cost a round trip each (the fast path's lookup
 * and create, the first write and its chmod, the lock's first attempt and
 * its record, closes beside removals).
 * Steps never wait for anything but an operation: where a caller must wait
 * for something else (the write's turn, a released lock), it runs the steps
 * before and after the wait as two runs (`_async_phases.ts`,
 * `_lock_wait.ts`).
 *
 * @module
 */
import type { FsOps, OpName } from "./runtime/types.ts";

/** A request to run one adapter operation; `T` is what it returns. */
export interface Request<T> {
  readonly kind: "op";
  readonly name: OpName;
  readonly args: readonly unknown[];
  /** Phantom field carrying the result type; never set. */
  readonly result?: T;
}

/** What a settled request gave: its value or its error. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** Everything a step can ask its runner for. */
export type Instruction =
  | Request<unknown>
  | { readonly kind: "all"; readonly requests: readonly Request<unknown>[] };

/** A piece of the algorithm that produces `T`. */
export type Steps<T> = Generator<Instruction, T, unknown>;

/** Builds a request for the adapter operation `name`. */
export function request<K extends OpName>(
  name: K,
  ...args: Parameters<FsOps[K]>
): Request<ReturnType<FsOps[K]>> {
  return { kind: "op", name, args };
}

/** Runs one request: its result, or its error thrown. */
export function* perform<T>(req: Request<T>): Steps<T> {
  // The one cast: a runner sends back what `ops[req.name]` returned, which
  // `request()` typed as `T` when it built `req`.
  return (yield req) as T;
}

/** Runs one request and reports its outcome instead of throwing. */
export function* settle<T>(req: Request<T>): Steps<Settled<T>> {
  try {
    return { ok: true, value: yield* perform(req) };
  } catch (error) {
    return { ok: false, error };
  }
}

/** Runs one request; a failure is replaced by what `wrap` makes of it. */
export function* performOr<T>(
  req: Request<T>,
  wrap: (error: unknown) => unknown,
): Steps<T> {
  try {
    return yield* perform(req);
  } catch (error) {
    throw wrap(error);
  }
}

/** Runs several requests, at once where the runner can; never throws. */
export function* all(
  requests: readonly Request<unknown>[],
): Steps<Settled<unknown>[]> {
  return (yield { kind: "all", requests }) as Settled<unknown>[];
}

/** Runs two requests, at once where the runner can; never throws. */
export function* both<A, B>(
  a: Request<A>,
  b: Request<B>,
): Steps<[Settled<A>, Settled<B>]> {
  return (yield* all([a, b])) as [Settled<A>, Settled<B>];
}
