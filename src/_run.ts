/** The two runners that drive the algorithm's steps (see `_steps.ts`): one synchronous, one asynchronous. */
import type { AsyncFsOps, FsOps } from "./runtime/types.ts";
import type { Instruction, Request, Settled, Steps } from "./_steps.ts";

type Op = (...args: readonly unknown[]) => unknown;

function call(ops: FsOps | AsyncFsOps, req: Request<unknown>): unknown {
  return (ops[req.name] as Op)(...req.args);
}

function settleSync(ops: FsOps, req: Request<unknown>): Settled<unknown> {
  try {
    return { ok: true, value: call(ops, req) };
  } catch (error) {
    return { ok: false, error };
  }
}

function executeSync(ops: FsOps, instruction: Instruction): unknown {
  switch (instruction.kind) {
    case "op":
      return call(ops, instruction);
    case "all":
      return instruction.requests.map((req) => settleSync(ops, req));
  }
}

/** Runs `steps` to completion with synchronous operations. */
export function runSync<T>(steps: Steps<T>, ops: FsOps): T {
  let next = steps.next();
  while (!next.done) {
    let value: unknown;
    try {
      value = executeSync(ops, next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(value);
  }
  return next.value;
}

function settleAsync(
  ops: AsyncFsOps,
  req: Request<unknown>,
): Promise<Settled<unknown>> {
  return (call(ops, req) as Promise<unknown>).then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/**
 * `promise`, or the signal's reason as soon as it aborts (and `stops()`
 * says the abort ends the wait: by default it does). A rejection of
 * `promise` after that is handled, and dropped.
 */
export function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  stops: () => boolean = () => true,
): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted && stops()) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      if (stops()) reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}

function executeAsync(ops: AsyncFsOps, instruction: Instruction): unknown {
  switch (instruction.kind) {
    case "op":
      return call(ops, instruction);
    case "all":
      return Promise.all(instruction.requests.map((r) => settleAsync(ops, r)));
  }
}

/** Runs `steps` to completion with asynchronous operations. */
export async function runAsync<T>(
  steps: Steps<T>,
  ops: AsyncFsOps,
): Promise<T> {
  let next = steps.next();
  while (!next.done) {
    let value: unknown;
    try {
      value = await executeAsync(ops, next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(value);
  }
  return next.value;
}
