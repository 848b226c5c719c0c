/** The two runners that drive the algorithm's steps (see `_steps.ts`): one synchronous, one asynchronous. */
import type { AsyncFsOps, EntryInfo, FsOps, OpName } from "./runtime/types.ts";
import type { Instruction, Request, Settled, Steps } from "./_steps.ts";
import { basename } from "node:path";
import { errorCode } from "./_error_code.ts";
import { tempNameOwner } from "./_temp_name.ts";
import { clearRepeat, setRepeat } from "./_clock.ts";

type Op = (...args: readonly unknown[]) => unknown;

/**
 * The calls made again when a signal interrupted them (`EINTR`), as libuv
 * does on Node for every call but `close` and `read`: Bun did not for
 * `fsync`, Deno not for `rename` or `unlink`, so one interrupted call failed
 * a write, a release or a sweep on one runtime only (FUSE, network file
 * systems). Never `close` (the descriptor is gone whatever it says) nor
 * `createExclusive` (a name of ours made after all would then say
 * `EEXIST`).
 */
const RETRIED_ON_EINTR: ReadonlySet<OpName> = new Set<OpName>([
  "lstat",
  "stat",
  "readLink",
  "reopen",
  "write",
  "sync",
  "syncDir",
  "chmod",
  "chown",
  "rename",
  "link",
  "remove",
  "removeDir",
  "readDir",
  "readFile",
  "touch",
  "touchName",
]);
/**
 * The calls whose retry, after an interruption, may find their work done: a
 * file server can carry out an `unlink` or `rmdir` whose caller a signal
 * interrupted. Their retry's `ENOENT` means the name is gone, as asked.
 */
const DONE_IF_GONE_ON_RETRY: ReadonlySet<OpName> = new Set<OpName>([
  "remove",
  "removeDir",
]);
/**
 * Whether the retry `tries` of `req`, a `link`, may have failed with
 * `error` only because an interrupted try did its work: a file server can
 * carry out a link whose caller a signal interrupted (NFS, FUSE), and the
 * retry then finds the new name taken, by that very file. Only where both
 * names are one file (looked at with `lstat`, which gives the entries'
 * identities: see `wasMade`) is its `EEXIST` success; a name another
 * process took meanwhile is another file.
 */
function linkedBefore(
  req: Request<unknown>,
  error: unknown,
  tries: number,
): boolean {
  return tries > 0 && req.name === "link" && errorCode(error) === "EEXIST";
}

/**
 * Whether the retry `tries` of `req`, a `rename` of a temporary file, may
 * have failed with `error` only because an interrupted try did its work:
 * the retry then finds the temporary name gone (`ENOENT`). It did if that
 * name is gone and the new one is there (see `wasMade`): a temporary name
 * is its writer's alone, which nobody else renames or removes while the
 * writer lives. (Not another name: a reclaimer's rename of a lock whose
 * retry finds it gone may have lost it to another reclaimer.)
 */
function renamedBefore(
  req: Request<unknown>,
  error: unknown,
  tries: number,
): boolean {
  return tries > 0 && req.name === "rename" && errorCode(error) === "ENOENT" &&
    tempNameOwner(basename(req.args[0] as string)) !== null;
}

/** Whether the old name is gone and the new one there (`lstat`s): a rename made. */
function moved(from: unknown, to: unknown): boolean {
  return from === null && to !== null;
}

/** Whether the entries `a` and `b` (`lstat`s) are one file. */
function sameFile(a: unknown, b: unknown): boolean {
  const [x, y] = [a as EntryInfo | null, b as EntryInfo | null];
  return x !== null && y !== null && x.id === y.id;
}

/** How often one call is made again: a storm of signals still ends. */
const MAX_EINTR_RETRIES = 16;

/** Whether `req` failed only because a signal interrupted it, and may be made again. */
function interrupted(
  req: Request<unknown>,
  error: unknown,
  tries: number,
): boolean {
  return tries < MAX_EINTR_RETRIES && RETRIED_ON_EINTR.has(req.name) &&
    errorCode(error) === "EINTR";
}

/** Whether the retry `tries` of `req` failed with `error` only because an interrupted try did its work. */
function doneBefore(
  req: Request<unknown>,
  error: unknown,
  tries: number,
): boolean {
  return tries > 0 && DONE_IF_GONE_ON_RETRY.has(req.name) &&
    errorCode(error) === "ENOENT";
}

function call(ops: FsOps, req: Request<unknown>): unknown {
  for (let tries = 0;; tries++) {
    try {
      return (ops[req.name] as Op)(...req.args);
    } catch (error) {
      if (doneBefore(req, error, tries)) return undefined;
      if (linkedBefore(req, error, tries) || renamedBefore(req, error, tries)) {
        const [from, to] = req.args as [string, string];
        const made = req.name === "link" ? sameFile : moved;
        if (wasMade(() => made(ops.lstat(from), ops.lstat(to)))) return;
        throw error;
      }
      if (!interrupted(req, error, tries)) throw error;
    }
  }
}

/** `made()`, or `false` if a look fails (the call's own error then stands). */
function wasMade(made: () => boolean): boolean {
  try {
    return made();
  } catch {
    return false;
  }
}

function callAsync(
  ops: AsyncFsOps,
  req: Request<unknown>,
  tries = 0,
): Promise<unknown> {
  const again = (error: unknown): Promise<unknown> =>
    doneBefore(req, error, tries)
      ? Promise.resolve(undefined)
      : linkedBefore(req, error, tries) || renamedBefore(req, error, tries)
      ? wasMadeAsync(ops, req).then((made) => {
        if (!made) throw error;
      })
      : interrupted(req, error, tries)
      ? callAsync(ops, req, tries + 1)
      : Promise.reject(error);
  let made: Promise<unknown>;
  try {
    made = (ops[req.name] as Op)(...req.args) as Promise<unknown>;
  } catch (error) {
    return again(error);
  }
  return RETRIED_ON_EINTR.has(req.name) ? made.catch(again) : made;
}

/** As `wasMade`, asynchronously: whether the link or rename `req` was made. */
async function wasMadeAsync(
  ops: AsyncFsOps,
  req: Request<unknown>,
): Promise<boolean> {
  const [from, to] = req.args as [string, string];
  const made = req.name === "link" ? sameFile : moved;
  try {
    const [a, b] = await Promise.all([ops.lstat(from), ops.lstat(to)]);
    return made(a, b);
  } catch {
    return false;
  }
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
  return callAsync(ops, req).then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/**
 * The longest delay a timer takes (2^31 - 1 ms, about 24.8 days): a longer
 * one fires after 1 ms on every runtime (Node warns `TimeoutOverflowWarning`).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Keeps the event loop alive until the returned function is called (see
 * {@linkcode untilAborted}). A stream's chunks share one for the whole
 * stream: a timer made per chunk made a streamed write 1.5 to 3 times
 * slower on Deno.
 */
export function keepingAlive(): () => void {
  const alive = setRepeat(() => {}, MAX_TIMER_MS);
  return () => clearRepeat(alive);
}

/**
 * `promise`, or the signal's reason as soon as it aborts (and `stops()`
 * says the abort ends the wait: by default it does). A rejection of
 * `promise` after that is handled, and dropped. Meanwhile a timer keeps the
 * event loop alive, as a lock's wait does: what is awaited may be the
 * caller's (a stream, an `openAtomic` callback) with nothing of its own to
 * keep the process running, and Node's `AbortSignal.timeout` keeps nothing
 * alive: without the timer Node would exit before the abort, where Deno and
 * Bun reject with its reason.
 */
export function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  stops: () => boolean = () => true,
  keepAlive = true,
): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted && stops()) {
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise((resolve, reject) => {
    const stop = keepAlive ? keepingAlive() : () => {};
    const onAbort = () => {
      if (!stops()) return;
      stop();
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => {
      stop();
      signal.removeEventListener("abort", onAbort);
    });
  });
}

function executeAsync(ops: AsyncFsOps, instruction: Instruction): unknown {
  switch (instruction.kind) {
    case "op":
      return callAsync(ops, instruction);
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
