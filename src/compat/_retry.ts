/**
 * atomically's retries, as this library makes them. A call that fails with
 * a transient code (`EMFILE`, `ENFILE`, `EAGAIN`, `EBUSY`, `EACCES`,
 * `EPERM`) is made again until `timeout` ms have passed since its first try.
 * A write retries its file-system operations one by one, inside the one
 * write (what atomically does), never the whole write: the write keeps its
 * temporary file, its place among the writes to its path, and the bytes it
 * has written, and reads a stream once.
 */
import type { Context } from "../_context.ts";
import { errorCode } from "../_error_code.ts";
import type { AsyncFsOps, FsOps } from "../runtime/types.ts";

/** The failure codes atomically retries. */
const TRANSIENT = new Set([
  "EMFILE",
  "ENFILE",
  "EAGAIN",
  "EBUSY",
  "EACCES",
  "EPERM",
]);

/** How long to wait between tries: atomically's interval, and a tenth of it when blocking. */
const INTERVAL_MS = 200;
const INTERVAL_SYNC_MS = 20;

function mayRetry(error: unknown, deadline: number): boolean {
  return TRANSIENT.has(errorCode(error) ?? "") && Date.now() < deadline;
}

/** Calls `attempt` until it succeeds, fails for good, or `timeout` ms have passed. */
export async function retrying<T>(
  attempt: () => Promise<T>,
  timeout: number,
  sleep: (ms: number) => Promise<void>,
): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!mayRetry(error, deadline)) throw error;
      await sleep(INTERVAL_MS);
    }
  }
}

/** The blocking form of {@linkcode retrying}. */
export function retryingSync<T>(
  attempt: () => T,
  timeout: number,
  sleep: (ms: number) => void,
): T {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return attempt();
    } catch (error) {
      if (!mayRetry(error, deadline)) throw error;
      sleep(INTERVAL_SYNC_MS);
    }
  }
}

/**
 * `ops` with the operations atomically retries retried, but `close`: a
 * failed close(2) has released the descriptor already, and closing its
 * number again could close a file opened since. A failed write wrote
 * nothing (a short write succeeds, and the algorithm resumes it), so a
 * retried write cannot repeat bytes.
 */
function retryingOps(ops: AsyncFsOps, timeout: number): AsyncFsOps {
  const again = <T>(attempt: () => Promise<T>) =>
    retrying(attempt, timeout, ops.sleep);
  return {
    ...ops,
    createExclusive: (path, mode) =>
      again(() => ops.createExclusive(path, mode)),
    write: (file, bytes) => again(() => ops.write(file, bytes)),
    sync: (file) => again(() => ops.sync(file)),
    rename: (from, to) => again(() => ops.rename(from, to)),
  };
}

/** The blocking form of {@linkcode retryingOps}. */
function retryingOpsSync(ops: FsOps, timeout: number): FsOps {
  const again = <T>(attempt: () => T) =>
    retryingSync(attempt, timeout, ops.sleep);
  return {
    ...ops,
    createExclusive: (path, mode) =>
      again(() => ops.createExclusive(path, mode)),
    write: (file, bytes) => again(() => ops.write(file, bytes)),
    sync: (file) => again(() => ops.sync(file)),
    rename: (from, to) => again(() => ops.rename(from, to)),
  };
}

/**
 * `base` with the operations {@linkcode retryingOps} names retried for up
 * to `timeout` ms each, asynchronous and synchronous; its in-flight set,
 * its known files and every other operation are `base`'s.
 */
export function retryingContext(base: Context, timeout: number): Context {
  const { adapter } = base;
  return {
    ...base,
    async: retryingOps(base.async, timeout),
    adapter: { ...adapter, sync: retryingOpsSync(adapter.sync, timeout) },
  };
}
