/**
 * How an adapter states each operation once. An adapter is a table of
 * {@linkcode Twin}s, one row an operation: the row names the runtime's
 * synchronous call and its asynchronous call side by side, and says once
 * what both forms do with the outcome (an {@linkcode Outcome}: how the
 * runtime's result becomes the contract's, which failure is an answer, as a
 * missing file is `null`). {@linkcode split} then deals the table out into
 * the contract's two faces, `FsOps` and `AsyncFsOps`, so the two forms of an
 * operation cannot drift apart. For example, Node's `stat`:
 *
 * ```ts ignore
 * stat: fromCallbacks(
 *   (path) => fs.statSync(path),
 *   (path) => (done) => fs.stat(path, done),
 *   { result: info, recover: missingAsNull },
 * ),
 * ```
 *
 * A form built here allocates per call what a hand-written one would (these
 * are the hot calls of every write): it takes a fixed number of arguments,
 * so no rest array; it maps the result inside the runtime's callback, or on
 * the one promise it derives from the runtime's; and a synchronous call with
 * nothing to map or normalize is used as it is.
 *
 * @module
 */
import type { AsyncFsOps, FsOps } from "./types.ts";
import { errorCode } from "../_error_code.ts";
import { isDirSyncUnsupported, isDirUnreadable, isWindows } from "./_posix.ts";

/** One operation in both forms, taking `A` and giving `R`. */
export interface Twin<A extends unknown[], R> {
  /** The synchronous form. */
  readonly sync: (...args: A) => R;
  /** The asynchronous form. */
  readonly async: (...args: A) => Promise<R>;
}

/** Every operation of the contract, in both forms, on open files of type `F`. */
export type OpTable<F> = {
  readonly [K in keyof FsOps<F>]: Twin<
    Parameters<FsOps<F>[K]>,
    ReturnType<FsOps<F>[K]>
  >;
};

/** What both forms of an operation do with the runtime's outcome. */
export interface Outcome<Raw, R> {
  /** The contract's result, from the runtime's. */
  readonly result: (raw: Raw) => R;
  /**
   * What a failure means instead; throws `error` where it is one.
   * @default throws `error`
   */
  readonly recover?: (error: unknown) => R;
}

/** What only a failure changes (the result is the runtime's as it is). */
export interface Recovery<R> {
  /** What a failure means instead; throws `error` where it is one. */
  readonly recover: (error: unknown) => R;
}

/** Node's callback convention: the call begins with `done`, which gets its outcome. */
export type Start<T> = (done: (error: Error | null, value: T) => void) => void;

/**
 * An operation as the builders see it inside: at most four arguments
 * (`chown` takes the most), a fixed number so that no call allocates a rest
 * array. The typed overloads of each builder give the rows their types.
 */
export type Call<T = unknown> = (
  a?: unknown,
  b?: unknown,
  c?: unknown,
  d?: unknown,
) => T;

/** The two forms, inside. */
export interface Pair {
  sync: Call;
  async: Call<Promise<unknown>>;
}

/** An outcome, inside: either part may be missing. */
type Loose = Partial<Outcome<unknown, unknown>>;

const same = <T>(value: T): T => value;

const rethrow = (error: unknown): never => {
  throw error;
};

/** The recovery of the operations that answer `null` for a missing file (`ENOENT`). */
export function missingAsNull(error: unknown): null {
  if (errorCode(error) === "ENOENT") return null;
  throw error;
}

/**
 * The synchronous form of a row: `sync` as it is where there is nothing to
 * map, else wrapped once.
 */
function syncForm(
  sync: Call,
  outcome: Loose,
  normalize: (error: unknown) => unknown,
): Call {
  const { result = same, recover = rethrow } = outcome;
  if (result === same && recover === rethrow && normalize === same) return sync;
  return (a, b, c, d) => {
    try {
      return result(sync(a, b, c, d));
    } catch (error) {
      return recover(normalize(error));
    }
  };
}

/**
 * A row from a runtime's synchronous call and its callback-style call
 * (Node's `fs.x(…, done)`), wrapped by hand: one thread-pool round trip,
 * no `FileHandle`.
 */
export function fromCallbacks<A extends unknown[], Raw, R>(
  sync: (...args: A) => Raw,
  async: (...args: A) => Start<Raw>,
  outcome: Outcome<Raw, R>,
): Twin<A, R>;
/** A row whose result is the runtime's as it is, apart from what `recover` makes of a failure. */
export function fromCallbacks<A extends unknown[], R>(
  sync: (...args: A) => R,
  async: (...args: A) => Start<R>,
  outcome?: Recovery<R>,
): Twin<A, R>;
export function fromCallbacks(
  sync: Call,
  async: Call<Start<unknown>>,
  outcome: Loose = {},
): Pair {
  const { result = same, recover = rethrow } = outcome;
  return {
    sync: syncForm(sync, outcome, same),
    async: (a, b, c, d) =>
      new Promise((resolve, reject) =>
        async(a, b, c, d)((error, raw) => {
          // As the synchronous form: what `result` throws goes to `recover`.
          try {
            if (error) throw error;
            resolve(result(raw));
          } catch (thrown) {
            try {
              resolve(recover(thrown));
            } catch (final) {
              reject(final);
            }
          }
        })
      ),
  };
}

/** The row builder {@linkcode fromPromises} returns. */
export interface PromiseRows {
  /** A row from both calls, with what both do with the outcome. */
  <A extends unknown[], Raw, R>(
    sync: (...args: A) => Raw,
    async: (...args: A) => Promise<Raw>,
    outcome: Outcome<Raw, R>,
  ): Twin<A, R>;
  /** A row whose result is the runtime's as it is, apart from what `recover` makes of a failure. */
  <A extends unknown[], R>(
    sync: (...args: A) => R,
    async?: (...args: A) => Promise<R>,
    outcome?: Recovery<R>,
  ): Twin<A, R>;
}

/**
 * `rows` with `normalize` applied to every error either form throws or
 * rejects with: another runtime's own calls (`node:fs` on Deno, whose
 * missing permissions carry no `code`), in the adapter's convention.
 */
export function withNormalizedErrors<
  T extends Record<string, Twin<never, unknown>>,
>(
  rows: T,
  normalize: (error: unknown, op: string) => unknown,
): T {
  const wrapped: Record<string, Pair> = {};
  for (const [name, twin] of Object.entries(rows)) {
    const { sync, async } = twin as unknown as Pair;
    const fail = (error: unknown): never => {
      throw normalize(error, name);
    };
    wrapped[name] = {
      sync: (a, b, c, d) => {
        try {
          return sync(a, b, c, d);
        } catch (error) {
          return fail(error);
        }
      },
      async: (a, b, c, d) => {
        try {
          return async(a, b, c, d).catch(fail);
        } catch (error) {
          return Promise.reject(normalize(error, name));
        }
      },
    };
  }
  return wrapped as unknown as T;
}

/**
 * The row builder of a runtime whose asynchronous calls return promises
 * (Deno); `normalize` gives each error it throws the contract's `code`
 * before `recover` sees it. A row may give no asynchronous call where the
 * runtime has only a synchronous one: its asynchronous form runs that.
 */
export function fromPromises(
  normalize: (error: unknown) => unknown,
): PromiseRows {
  function row(
    sync: Call,
    async?: Call<Promise<unknown>>,
    outcome: Loose = {},
  ): Pair {
    const syncOp = syncForm(sync, outcome, normalize);
    // Without a mapping the promise's own value passes through (no call).
    const { result, recover = rethrow } = outcome;
    const fail = (error: unknown): unknown => recover(normalize(error));
    return {
      sync: syncOp,
      async: (a, b, c, d) => {
        try {
          return async === undefined
            ? Promise.resolve(syncOp(a, b, c, d))
            : async(a, b, c, d).then(result, fail);
        } catch (error) {
          // Some calls throw before they return a promise (bad arguments,
          // a missing permission): a rejection all the same.
          return Promise.reject(normalize(error));
        }
      },
    };
  }
  return row as PromiseRows;
}

/**
 * `syncDir` from three rows of an adapter (open the directory, fsync it,
 * close it; only the fsync where the caller holds it open already), the
 * same for every adapter: a file system that cannot fsync a
 * directory (`isDirSyncUnsupported`) is no failure, nor is a directory this
 * user may write but not read (`isDirUnreadable`), and Windows has no
 * directory fsync at all. The one operation written in both forms here, as
 * a sequence of calls, once for all adapters.
 */
export function dirSync<F>(
  open: Twin<[string], F>,
  fsync: Twin<[F], void>,
  close: Twin<[F], void>,
): Twin<[string, F?], void> {
  return {
    sync: (path, held) => {
      if (isWindows) return;
      let dir: F;
      try {
        dir = held ?? open.sync(path);
      } catch (error) {
        if (isDirUnreadable(error)) return;
        throw error;
      }
      try {
        fsync.sync(dir);
      } catch (error) {
        if (!isDirSyncUnsupported(error)) throw error;
      } finally {
        if (held === undefined) close.sync(dir);
      }
    },
    async: async (path, held) => {
      if (isWindows) return;
      let dir: F;
      try {
        dir = held ?? await open.async(path);
      } catch (error) {
        if (isDirUnreadable(error)) return;
        throw error;
      }
      try {
        await fsync.async(dir);
      } catch (error) {
        if (!isDirSyncUnsupported(error)) throw error;
      } finally {
        if (held === undefined) await close.async(dir);
      }
    },
  };
}

/** The contract's two faces, dealt out of `table`. */
export function split<F>(
  table: OpTable<F>,
): { sync: FsOps<F>; async: AsyncFsOps<F> } {
  const sync: Record<string, unknown> = {};
  const async: Record<string, unknown> = {};
  for (const [name, twin] of Object.entries(table)) {
    sync[name] = twin.sync;
    async[name] = twin.async;
  }
  // The one cast: both were filled with every row of an `OpTable<F>`.
  return {
    sync: sync as unknown as FsOps<F>,
    async: async as unknown as AsyncFsOps<F>,
  };
}
