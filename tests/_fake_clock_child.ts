/**
 * A child for `fake_clock_test.ts`: `_fake_clock_child.ts MODE TARGET`
 * loads the library, then fakes the clocks and timers as a test
 * framework's fake timers do once the code under test is loaded, and
 * prints one line:
 * - `take TARGET`: `Date.now` pinned to 1970, `performance.now` frozen,
 *   `setTimeout` and `setInterval` never firing; takes TARGET's lock
 *   (another holder's, dead, in the way) with `lockFile`; prints `ok` or
 *   the error's code.
 * - `stamp TARGET`: only `Date.now` pinned to 1970 (as Node's
 *   `mock.timers.enable({ apis: ["Date"] })` does); takes TARGET's lock
 *   with a lease of 1 s and holds it past a heartbeat (every lease / 5),
 *   which stamps it again; prints `ok` and how far the lock file's time is
 *   from the real time, in whole minutes, or the error's code.
 * - `sync-timeout TARGET`: faked as for `take`; `lockFileSync` with a
 *   300 ms timeout, while another process holds TARGET's lock; prints the
 *   error's code and whether it came within 5 s.
 */
import fs from "node:fs";
import process from "node:process";
import { lockFile, lockFileSync } from "../mod.ts";
import { lockPathOf } from "./_lock_fixtures.ts";

const [mode, target] = process.argv.slice(2);
const realNow = Date.now;
const realSetTimeout = globalThis.setTimeout;

Date.now = () => 10_000;
if (mode !== "stamp") {
  Object.defineProperty(performance, "now", {
    value: () => 0,
    configurable: true,
    writable: true,
  });
  // A timer as the runtime's own would be (Node's and Bun's are objects).
  const fake = "Deno" in globalThis ? 1 : {
    ref: () => fake,
    unref: () => fake,
    hasRef: () => false,
    refresh: () => fake,
    [Symbol.toPrimitive]: () => 1,
  };
  globalThis.setTimeout = (() => fake) as unknown as typeof setTimeout;
  globalThis.setInterval = (() => fake) as unknown as typeof setInterval;
}

function codeOf(error: unknown): string {
  return String((error as { code?: unknown }).code);
}

/** Resolves after `ms` of real time. */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, ms));
}

if (mode === "take") {
  // The process must not end before the lock is taken: a real timer,
  // which fake timers would not fire either, keeps it alive.
  const alive = realSetTimeout(() => console.log("hung"), 10_000);
  try {
    const lock = await lockFile(target, { timeout: 5_000 });
    console.log("ok");
    await lock.release();
  } catch (error) {
    console.log(codeOf(error));
  }
  clearTimeout(alive);
} else if (mode === "stamp") {
  try {
    const lock = await lockFile(target, { lease: 1_000 });
    await pause(500);
    const skew = fs.lstatSync(lockPathOf(target)).mtimeMs - realNow();
    console.log(`ok ${Math.round(skew / 60_000)}`);
    await lock.release();
  } catch (error) {
    console.log(codeOf(error));
  }
} else if (mode === "sync-timeout") {
  const started = realNow();
  try {
    lockFileSync(target, { timeout: 300 });
    console.log("taken");
  } catch (error) {
    const within = realNow() - started < 5_000 ? "in time" : "late";
    console.log(`${codeOf(error)} ${within}`);
  }
}
