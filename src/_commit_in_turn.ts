/**
 * The asynchronous commit: seal, wait for the write's turn (every earlier
 * write to the path has renamed), publish. The wait sits between two runs of
 * steps, so the steps themselves never wait for anything but an operation.
 */
import type { AsyncFsOps } from "./runtime/types.ts";
import {
  discard,
  orDiscard,
  publish,
  type Replacement,
  seal,
} from "./_replace.ts";
import { runAsync } from "./_run.ts";

/** `promise`, or the signal's reason as soon as it aborts. */
function untilAborted(
  promise: Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() =>
      signal.removeEventListener("abort", onAbort)
    );
  });
}

/** Seals the temporary file, waits for the write's turn, then puts the file in place. */
export async function commitInTurn(
  s: Replacement,
  ops: AsyncFsOps,
): Promise<void> {
  await runAsync(orDiscard(s, seal(s)), ops);
  if (s.ticket?.mayRename) {
    try {
      await untilAborted(s.ticket.mayRename, s.options.signal);
    } catch (error) {
      await runAsync(discard(s), ops);
      throw error;
    }
  }
  await runAsync(orDiscard(s, publish(s)), ops);
}
