/** Uniquely named temporary files that remove themselves when their scope ends. */
import { currentContext } from "./_context.ts";
import { codeOf, errorCode } from "./_error_code.ts";
import { runAsync, runSync } from "./_run.ts";
import { perform, request, settle, type Steps } from "./_steps.ts";
import { randomHex } from "./_temp_name.ts";
import {
  refuseLoneSurrogates,
  takeOptions,
  toAbsolutePath,
} from "./_validate.ts";
import { AtomicWriteError } from "./atomic_write_error.ts";
import { inDirectory } from "./_replacement.ts";
import type { RuntimeAdapter } from "./runtime/types.ts";

/**
 * Where and how {@linkcode makeTempFile} names the file, as in
 * `Deno.makeTempFile`: `{dir}/{prefix}{random}{suffix}`. Only the object's
 * own properties count, each read once: inherited ones are ignored.
 *
 * @example Usage
 * ```ts
 * import { makeTempFile, type MakeTempOptions } from "@x/atomic";
 *
 * const options: MakeTempOptions = { prefix: "report-", suffix: ".csv" };
 * await using tmp = await makeTempFile(options);
 * ```
 */
export interface MakeTempOptions {
  /**
   * The directory to create the file in.
   *
   * @default {the system's temporary directory}
   */
  dir?: string | URL | undefined;
  /**
   * The start of the file name.
   *
   * @default {""}
   */
  prefix?: string | undefined;
  /**
   * The end of the file name.
   *
   * @default {""}
   */
  suffix?: string | undefined;
}

/**
 * A temporary file that exists until it is removed: by `remove()`, when the
 * `using`/`await using` scope that holds it ends, or when the process (or
 * the worker that made it) exits while it still exists. For that, while any
 * such file exists, the library has one exit listener (`process.on("exit")`
 * on Node and Bun, `unload` and uncaught-error listeners on Deno); it never
 * listens to signals. A process ended by a signal's default action or
 * `kill -9` leaves the file.
 *
 * @example Usage
 * ```ts
 * import { makeTempFileSync } from "@x/atomic";
 *
 * using tmp = makeTempFileSync();
 * Deno.writeTextFileSync(tmp.path, "scratch");
 * ```
 */
export interface TempFile extends AsyncDisposable, Disposable {
  /** The absolute path of the file. */
  readonly path: string;
  /**
   * Removes the file; does nothing if it is already gone.
   *
   * @returns A promise that resolves once the file is gone.
   * @throws {AtomicWriteError} If the file exists but cannot be removed.
   *
   * @example Usage
   * ```ts
   * import { makeTempFile } from "@x/atomic";
   *
   * const tmp = await makeTempFile();
   * await tmp.remove();
   * ```
   */
  remove(): Promise<void>;
}

const MAX_ATTEMPTS = 16;

function checkName(value: unknown, what: string): string {
  if (value === undefined) return "";
  if (typeof value !== "string") {
    throw new TypeError(`Cannot use option "${what}": expected a string`);
  }
  if (/[\\/\0]/.test(value)) {
    throw new TypeError(
      `Cannot use option "${what}" ${
        JSON.stringify(value)
      }: it contains a path separator or NUL byte`,
    );
  }
  refuseLoneSurrogates(value, `option "${what}"`);
  return value;
}

/** A failure to make or remove a temporary file, with the same code on every runtime. */
function tempFileError(
  operation: string,
  path: string,
  target: string,
  task: string,
  cause: unknown,
): AtomicWriteError {
  const code = codeOf(cause);
  return new AtomicWriteError({ code, operation, path, target, cause, task });
}

/**
 * Creates `{dir}/{prefix}{random}{suffix}` exclusively (mode 0o600),
 * retrying name collisions; the file is in flight (removed at exit) from
 * before it exists until it is removed.
 */
function* createUnique(
  dir: string,
  prefix: string,
  suffix: string,
  inFlight: Set<string>,
): Steps<string> {
  for (let attempt = 1;; attempt++) {
    const path = inDirectory(dir, `${prefix}${randomHex()}${suffix}`);
    inFlight.add(path);
    const task = `make a temporary file in "${dir}"`;
    const made = yield* settle(request("createExclusive", path, 0o600));
    if (!made.ok) {
      inFlight.delete(path);
      if (errorCode(made.error) !== "EEXIST" || attempt >= MAX_ATTEMPTS) {
        throw tempFileError("create", path, dir, task, made.error);
      }
      continue;
    }
    const closed = yield* settle(request("close", made.value));
    if (closed.ok) return path;
    // Made, but its close failed (a file server's late write error): it
    // goes, as a failed call leaves nothing (or at exit, if it cannot now).
    if ((yield* settle(request("remove", path))).ok) inFlight.delete(path);
    throw tempFileError("close", path, dir, task, closed.error);
  }
}

function* removeQuietly(path: string, inFlight: Set<string>): Steps<void> {
  try {
    yield* perform(request("remove", path));
  } catch (error) {
    if (errorCode(error) !== "ENOENT") {
      const task = `remove the temporary file "${path}"`;
      throw tempFileError("remove", path, path, task, error);
    }
  }
  inFlight.delete(path);
}

/**
 * The system's temporary directory, absolute (`$TMPDIR` may be relative);
 * one whose name is not UTF-8 fails with `EILSEQ`, as a `dir` does.
 */
function temporaryDirectory(adapter: RuntimeAdapter): string {
  let dir: string;
  try {
    dir = adapter.tmpDir();
  } catch (error) {
    throw new AtomicWriteError({
      code: codeOf(error),
      operation: "find the temporary directory",
      path: "$TMPDIR",
      target: "$TMPDIR",
      task: "make a temporary file",
      cause: error,
    });
  }
  return toAbsolutePath(dir, "dir");
}

function plan(options: MakeTempOptions | undefined): Steps<string> {
  const given = takeOptions(
    options,
    ["dir", "prefix", "suffix"],
    "options",
    () => "Cannot make a temporary file: options must be an object",
  );
  const context = currentContext();
  const dir = given.dir === undefined
    ? temporaryDirectory(context.adapter)
    : toAbsolutePath(given.dir, "dir");
  return createUnique(
    dir,
    checkName(given.prefix, "prefix"),
    checkName(given.suffix, "suffix"),
    context.inFlight,
  );
}

function tempFile(path: string): TempFile {
  const { adapter, inFlight } = currentContext();
  const remove = () => runAsync(removeQuietly(path, inFlight), adapter.async);
  return {
    path,
    remove,
    [Symbol.asyncDispose]: remove,
    [Symbol.dispose]: () =>
      runSync(removeQuietly(path, inFlight), adapter.sync),
  };
}

/**
 * Creates a new, empty, uniquely named file (mode 0o600) that removes itself
 * when its scope ends, like `Deno.makeTempFile` with cleanup built in.
 *
 * @param options Where to create it and how to name it.
 * @returns The {@linkcode TempFile}.
 * @throws {TypeError} If an option has the wrong type or the prefix or suffix holds a path separator.
 * @throws {AtomicWriteError} With the same `code` on every runtime if the file cannot be created.
 *
 * @example Usage
 * ```ts
 * import { makeTempFile } from "@x/atomic";
 *
 * await using tmp = await makeTempFile({ prefix: "upload-" });
 * await Deno.writeTextFile(tmp.path, "scratch"); // removed at the end of the scope
 * ```
 */
export function makeTempFile(options?: MakeTempOptions): Promise<TempFile>;
/**
 * Creates a new, empty, uniquely named file, runs `fn` with it, and removes
 * it when `fn` settles.
 *
 * @typeParam T What `fn` returns.
 * @param fn Uses the file.
 * @param options Where to create it and how to name it.
 * @returns What `fn` returned.
 * @throws {TypeError} If an option has the wrong type or the prefix or suffix holds a path separator.
 * @throws {AtomicWriteError} With the same `code` on every runtime if the file cannot be created, or if `fn` resolved but the file cannot be removed.
 * @throws {unknown} If `fn` throws: its error, once the file is removed. If
 * the removal fails too, `fn`'s error is still the one thrown, with the
 * removal's `AtomicWriteError` as its `suppressed` property (not
 * enumerable; only on an extensible object without one), and the file is
 * removed at exit.
 *
 * @example Usage
 * ```ts
 * import { makeTempFile } from "@x/atomic";
 *
 * const size = await makeTempFile(async (tmp) => {
 *   await Deno.writeTextFile(tmp.path, "abc");
 *   return (await Deno.stat(tmp.path)).size;
 * });
 * ```
 */
export function makeTempFile<T>(
  fn: (file: TempFile) => T | Promise<T>,
  options?: MakeTempOptions,
): Promise<T>;
export async function makeTempFile<T>(
  fnOrOptions?: ((file: TempFile) => T | Promise<T>) | MakeTempOptions,
  options?: MakeTempOptions,
): Promise<TempFile | T> {
  const fn = typeof fnOrOptions === "function" ? fnOrOptions : undefined;
  if (fn === undefined && options !== undefined) {
    throw new TypeError(
      "Cannot make a temporary file: the first argument must be a function when options follow it",
    );
  }
  const steps = plan(fn ? options : fnOrOptions as MakeTempOptions);
  const file = tempFile(await runAsync(steps, currentContext().adapter.async));
  if (fn === undefined) return file;
  let result: T;
  try {
    result = await fn(file);
  } catch (error) {
    await file.remove().catch((removal) => attachSuppressed(error, removal));
    throw error;
  }
  await file.remove();
  return result;
}

/**
 * Attaches `removal`, the failure to remove the file after the callback
 * threw `error`, to `error` as its `suppressed` property (the name
 * `SuppressedError` gives it; not enumerable), where `error` is an
 * extensible object that has none of its own: the callback's error stays
 * the one thrown. The file is still removed at exit.
 */
function attachSuppressed(error: unknown, removal: unknown): void {
  if (
    (typeof error !== "object" && typeof error !== "function") ||
    error === null || !Object.isExtensible(error) ||
    Object.hasOwn(error, "suppressed")
  ) return;
  Object.defineProperty(error, "suppressed", {
    value: removal,
    configurable: true,
    writable: true,
  });
}

/**
 * Creates a new, empty, uniquely named file (mode 0o600), synchronously; it
 * removes itself when the `using` scope that holds it ends.
 *
 * @param options Where to create it and how to name it.
 * @returns The {@linkcode TempFile}.
 * @throws {TypeError} If an option has the wrong type or the prefix or suffix holds a path separator.
 * @throws {AtomicWriteError} With the same `code` on every runtime if the file cannot be created.
 *
 * @example Usage
 * ```ts
 * import { makeTempFileSync } from "@x/atomic";
 *
 * using tmp = makeTempFileSync({ suffix: ".json" });
 * Deno.writeTextFileSync(tmp.path, "{}");
 * ```
 */
export function makeTempFileSync(options?: MakeTempOptions): TempFile {
  return tempFile(runSync(plan(options), currentContext().adapter.sync));
}
