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
import { monotonic } from "../_clock.ts";

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
  return TRANSIENT.has(errorCode(error) ?? "") && monotonic() < deadline;
}

/** Calls `attempt` until it succeeds, fails for good, or `timeout` ms have passed. */
export async function retrying<T>(
  attempt: () => T | Promise<T>,
  timeout: number,
  sleep: (ms: number) => Promise<void>,
): Promise<T> {
  const deadline = monotonic() + timeout;
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
  const deadline = monotonic() + timeout;
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
 * The operations retried: those atomically retries, but `close`, and the
 * looks at the target and its directory that come first (a directory that
 * cannot be searched for a moment fails them with `EACCES`, where
 * atomically's own first call waits). A failed close(2) has released the
 * descriptor already, and closing its number again could close a file
 * opened since. A failed write wrote nothing (a short write succeeds, and
 * the algorithm resumes it), so a retried write cannot repeat bytes.
 */
const RETRIED = [
  "lstat",
  "stat",
  "createExclusive",
  "write",
  "sync",
  "rename",
] as const;

/** `ops` with each {@linkcode RETRIED} operation run through `again`. */
function withRetries<Ops extends FsOps | AsyncFsOps>(
  ops: Ops,
  again: (attempt: () => unknown) => unknown,
): Ops {
  const wrapped: Record<string, unknown> = { ...ops };
  for (const name of RETRIED) {
    const once = ops[name] as (...args: unknown[]) => unknown;
    wrapped[name] = (...args: unknown[]) => again(() => once(...args));
  }
  return wrapped as Ops;
}

/**
 * `base` with the {@linkcode RETRIED} operations retried for up to
 * `timeout` ms each, asynchronous and synchronous; its in-flight set, its
 * known files and every other operation are `base`'s.
 */
export function retryingContext(base: Context, timeout: number): Context {
  const { adapter } = base;
  const sleep = base.async.sleep;
  const sleepSync = adapter.sync.sleep;
  return {
    ...base,
    async: withRetries(base.async, (op) => retrying(op, timeout, sleep)),
    adapter: {
      ...adapter,
      sync: withRetries(
        adapter.sync,
        (op) => retryingSync(op, timeout, sleepSync),
      ),
    },
  };
}
