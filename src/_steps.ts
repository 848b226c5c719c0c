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
 * it at the `yield`. There is one kind of instruction and two verbs:
 * {@linkcode perform} (the result, or the error thrown) and
 * {@linkcode settle} (the outcome as a value, never throwing).
 *
 * @module
 */
import type { FsOps, OpName } from "./runtime/types.ts";

/** A request to run one adapter operation; `T` is what it returns. */
export interface Request<T> {
  readonly name: OpName;
  readonly args: readonly unknown[];
  /** Phantom field carrying the result type; never set. */
  readonly result?: T;
}

/** What a settled request gave: its value or its error. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** A piece of the algorithm that produces `T`. */
export type Steps<T> = Generator<Request<unknown>, T, unknown>;

/** Builds a request for the adapter operation `name`. */
export function request<K extends OpName>(
  name: K,
  ...args: Parameters<FsOps[K]>
): Request<ReturnType<FsOps[K]>> {
  return { name, args };
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
