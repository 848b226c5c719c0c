/**
 * The clocks and timers the library runs on, taken from the global scope
 * when the library is first loaded. Test frameworks fake these for the code
 * under test (sinon's and vitest's `useFakeTimers`, jest's, Node's
 * `mock.timers`) by replacing the globals, usually once every module is
 * loaded; the library must go on with the real ones, or a lock's heartbeat
 * stops, a deadline never comes, a dead holder's lock is never looked at
 * again, and a lock is stamped with a time that other processes read as a
 * lease long over (or one not over for years). Fakes installed before the
 * library is loaded, and Bun's, which fake the runtime's own clocks and
 * timers (`setSystemTime`, `jest.useFakeTimers`), are not escaped: see the
 * README, "Fake clocks and timers".
 *
 * A synchronous sleep (`Atomics.wait`) takes real time whatever the clocks
 * say, so the monotonic clock never reads less than the sleeps it has seen
 * (`slept`): a synchronous wait under a frozen clock still ends at its
 * deadline, instead of blocking the thread for good.
 */

/**
 * The two clocks read: the globals' as found when the library was loaded.
 * Only the library's own tests replace them here (to make time pass at
 * once), never a fake of the globals.
 */
export const clocks: { wall: () => number; monotonic: () => number } = {
  wall: Date.now,
  monotonic: performance.now.bind(performance),
};
const startTimer = globalThis.setTimeout.bind(globalThis);
const stopTimer = globalThis.clearTimeout.bind(globalThis);
const startRepeat = globalThis.setInterval.bind(globalThis);
const stopRepeat = globalThis.clearInterval.bind(globalThis);

/**
 * `performance.timeOrigin`, as it was when the library was loaded: the
 * wall-clock time at which {@linkcode monotonic} read 0.
 */
export const timeOrigin: number = performance.timeOrigin;

/** The lowest reading {@linkcode monotonic} may give: where the sleeps seen so far ended. */
let sleptUntil = -Infinity;

/**
 * The wall-clock time in milliseconds since the epoch, as `Date.now()` gave
 * it when the library was loaded: what lock records and leases are stamped
 * with, which other processes and hosts compare with theirs.
 *
 * @example Usage
 * ```ts ignore
 * const at = wallClock();
 * ```
 */
export function wallClock(): number {
  return clocks.wall();
}

/**
 * A monotonic time in milliseconds (`performance.now()`, as it was when the
 * library was loaded), never less than where the synchronous sleeps seen
 * so far ended: for deadlines and intervals within this process.
 *
 * @example Usage
 * ```ts ignore
 * const deadline = monotonic() + timeout;
 * ```
 */
export function monotonic(): number {
  const now = clocks.monotonic();
  return now > sleptUntil ? now : sleptUntil;
}

/**
 * Records that the thread slept `ms` milliseconds from `since` (a reading
 * of {@linkcode monotonic}): the clock reads at least `since + ms` from now
 * on, even if frozen.
 *
 * @example Usage
 * ```ts ignore
 * const since = monotonic();
 * Atomics.wait(cell, 0, 0, ms);
 * slept(since, ms);
 * ```
 */
export function slept(since: number, ms: number): void {
  if (since + ms > sleptUntil) sleptUntil = since + ms;
}

/** A timer made by {@linkcode setTimer} or {@linkcode setRepeat}. */
export type Timer = ReturnType<typeof setTimeout>;

/**
 * `setTimeout`, as it was when the library was loaded.
 *
 * @example Usage
 * ```ts ignore
 * const timer = setTimer(() => console.log("late"), 100);
 * clearTimer(timer);
 * ```
 */
export function setTimer(fn: () => void, ms: number): Timer {
  return startTimer(fn, ms);
}

/**
 * `clearTimeout`, as it was when the library was loaded; `undefined` is
 * ignored.
 *
 * @example Usage
 * ```ts ignore
 * clearTimer(setTimer(() => {}, 100));
 * ```
 */
export function clearTimer(timer: Timer | undefined): void {
  stopTimer(timer);
}

/**
 * `setInterval`, as it was when the library was loaded.
 *
 * @example Usage
 * ```ts ignore
 * const timer = setRepeat(() => console.log("tick"), 100);
 * clearRepeat(timer);
 * ```
 */
export function setRepeat(fn: () => void, ms: number): Timer {
  return startRepeat(fn, ms);
}

/**
 * `clearInterval`, as it was when the library was loaded.
 *
 * @example Usage
 * ```ts ignore
 * clearRepeat(setRepeat(() => {}, 100));
 * ```
 */
export function clearRepeat(timer: Timer): void {
  stopRepeat(timer);
}
