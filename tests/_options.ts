/**
 * Helpers for the tests of how options are taken: a polluted
 * `Object.prototype`, getters that count their reads, a signal look-alike.
 */

/**
 * Runs `fn` with `pollution`'s keys set on `Object.prototype`, as a library
 * with a prototype-pollution bug would set them; removed after.
 */
export async function withPollutedPrototype<T>(
  pollution: Record<string, unknown>,
  fn: () => T | Promise<T>,
): Promise<T> {
  const prototype = Object.prototype as Record<string, unknown>;
  const keys = Object.keys(pollution);
  for (const key of keys) prototype[key] = pollution[key];
  try {
    return await fn();
  } finally {
    for (const key of keys) delete prototype[key];
  }
}

/** An options object whose every key is a getter counting its reads. */
export function countingOptions(values: Record<string, unknown>): {
  options: Record<string, unknown>;
  reads: Record<string, number>;
} {
  const options = {};
  const reads: Record<string, number> = {};
  for (const [key, value] of Object.entries(values)) {
    reads[key] = 0;
    Object.defineProperty(options, key, {
      enumerable: true,
      get: () => (reads[key]++, value),
    });
  }
  return { options, reads };
}

/** `reads` with every count 1: each option read exactly once. */
export function onceEach(
  reads: Record<string, number>,
): Record<string, number> {
  return Object.fromEntries(Object.keys(reads).map((key) => [key, 1]));
}

/** A signal's look-alike: `instanceof AbortSignal`, not made by the runtime. */
export function fakeSignal(): AbortSignal {
  return Object.create(AbortSignal.prototype);
}

/** The start of the TypeError every API refuses a signal look-alike with. */
export const FAKE_SIGNAL =
  /^Cannot use option "signal": expected an AbortSignal/;
