/**
 * The asynchronous commit: seal, wait for the write's turn (every earlier
 * write to the file has renamed), publish. The wait sits between two runs of
 * steps, so the steps themselves never wait for anything but an operation.
 */
import type { AsyncFsOps } from "./runtime/types.ts";
import { request, settle, type Steps } from "./_steps.ts";
import {
  discard,
  orDiscard,
  prepare,
  publish,
  type Replacement,
  seal,
} from "./_replace.ts";
import { runAsync, untilAborted } from "./_run.ts";

/** Runs `wait`; if it fails (or the signal aborts), removes the temporary file and rethrows. */
async function orDiscardAsync(
  s: Replacement,
  ops: AsyncFsOps,
  wait: Promise<unknown>,
): Promise<void> {
  try {
    await untilAborted(wait.then(() => {}), s.options.signal);
  } catch (error) {
    await runAsync(discard(s), ops);
    throw error;
  }
}

/** Which directory `dir` is (device and inode); `null` if it cannot be told. */
function* directoryId(dir: string): Steps<string | null> {
  const found = yield* settle(request("stat", dir));
  return found.ok && found.value !== null ? found.value.id : null;
}

/** Makes the temporary file, then awaits the `tempCreated` hook if there is one. */
export async function prepareAsync(
  s: Replacement,
  ops: AsyncFsOps,
): Promise<void> {
  await runAsync(prepare(s), ops);
  s.ticket?.found(s.final);
  const hook = s.options.tempCreated;
  if (hook === undefined) return;
  await orDiscardAsync(s, ops, (async () => await hook(s.temp as string))());
  s.options.signal?.throwIfAborted();
}

/** Seals the temporary file, waits for the write's turn, then puts the file in place. */
export async function commitInTurn(
  s: Replacement,
  ops: AsyncFsOps,
): Promise<void> {
  await runAsync(orDiscard(s, seal(s)), ops);
  const ticket = s.ticket;
  if (ticket !== null) {
    ticket.found(s.final);
    const turn = ticket.mayRename((dir) => runAsync(directoryId(dir), ops));
    if (turn !== null) await orDiscardAsync(s, ops, turn);
  }
  await runAsync(orDiscard(s, publish(s)), ops);
}
