/** Waiting, in the two forms every adapter offers. Web-standard on all runtimes. */
import { monotonic, setTimer, slept } from "../_clock.ts";

const cell = new Int32Array(new SharedArrayBuffer(4));

/**
 * Blocks the thread for `ms` milliseconds, which the library's monotonic
 * clock then counts as passed, whatever `performance.now()` says (see
 * `_clock.ts`).
 */
export function sleepSync(ms: number): void {
  if (!(ms > 0)) return;
  const since = monotonic();
  Atomics.wait(cell, 0, 0, ms);
  slept(since, ms);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimer(resolve, ms));
}
