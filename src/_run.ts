/** The two runners that drive the algorithm's steps (see `_steps.ts`): one synchronous, one asynchronous. */
import type { AsyncFsOps, FsOps } from "./runtime/types.ts";
import type { Request, Steps } from "./_steps.ts";

type Op = (...args: readonly unknown[]) => unknown;

function call(ops: FsOps | AsyncFsOps, req: Request<unknown>): unknown {
  return (ops[req.name] as Op)(...req.args);
}

/** Runs `steps` to completion with synchronous operations. */
export function runSync<T>(steps: Steps<T>, ops: FsOps): T {
  let next = steps.next();
  while (!next.done) {
    let value: unknown;
    try {
      value = call(ops, next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(value);
  }
  return next.value;
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
      value = await call(ops, next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(value);
  }
  return next.value;
}
