/**
 * The vocabulary of the algorithm: it is written as generators that *yield*
 * requests for adapter operations instead of calling them, so one algorithm
 * can be driven synchronously or asynchronously (see `_run.ts`).
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
  | { readonly kind: "both"; readonly requests: readonly Request<unknown>[] }
  | {
    readonly kind: "wait";
    readonly promise: Promise<unknown>;
    readonly signal: AbortSignal | undefined;
  };

/** A piece of the algorithm that produces `T`. */
export type Steps<T> = Generator<Instruction, T, unknown>;

/** Builds a request for the adapter operation `name`. */
export function request<K extends OpName>(
  name: K,
  ...args: Parameters<FsOps[K]>
): Request<ReturnType<FsOps[K]>> {
  return { kind: "op", name, args };
}

/** Runs one request; throws what the operation throws. */
export function* perform<T>(req: Request<T>): Steps<T> {
  return (yield req) as T;
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

/** Runs two requests at once where the runner can (in order where it cannot); never throws. */
export function* both<A, B>(
  a: Request<A>,
  b: Request<B>,
): Steps<[Settled<A>, Settled<B>]> {
  return (yield { kind: "both", requests: [a, b] }) as [Settled<A>, Settled<B>];
}

/** Runs several requests at once where the runner can (in order where it cannot); never throws. */
export function* all(
  requests: readonly Request<unknown>[],
): Steps<Settled<unknown>[]> {
  return (yield { kind: "both", requests }) as Settled<unknown>[];
}

/** Waits for `promise` (asynchronous runner only), or until `signal` aborts. */
export function* waitFor(
  promise: Promise<unknown>,
  signal: AbortSignal | undefined,
): Steps<void> {
  yield { kind: "wait", promise, signal };
}

/** Runs one request and reports its outcome instead of throwing. */
export function* settle<T>(req: Request<T>): Steps<Settled<T>> {
  try {
    return { ok: true, value: yield* perform(req) };
  } catch (error) {
    return { ok: false, error };
  }
}
