/**
 * A promise with the functions that settle it: the shape of what
 * `Promise.withResolvers()` returns, named here so that the published
 * declarations (`dist/*.d.ts`) need no ES2024 `lib` in the projects that
 * use them.
 */
export interface Deferred<T> {
  /** The promise. */
  readonly promise: Promise<T>;
  /** Fulfils the promise. */
  resolve(value: T | PromiseLike<T>): void;
  /** Rejects the promise. */
  reject(reason?: unknown): void;
}
