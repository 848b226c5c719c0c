/**
 * A drop-in for the npm package
 * [`atomically`](https://www.npmjs.com/package/atomically) (what `conf` and
 * many CLIs use): `writeFile`, `writeFileSync`, `readFile` and
 * `readFileSync` with the same arguments, callbacks and options, and this
 * library's guarantee underneath (fsync of the file and of the directory,
 * the same behaviour on Deno, Bun and Node). Change the import:
 *
 * ```ts ignore
 * // before: import { writeFileSync } from "atomically";
 * import { writeFileSync } from "@x/atomic/compat/atomically";
 * ```
 *
 * Modes follow the package: by default a new file gets 0o666 less the umask
 * and an existing file keeps its bits; `mode: 0o666` (conf's default) and
 * `mode: false` also mean "0o666 less the umask", even over an existing
 * file; any other mode is applied exactly (its permission bits, so a whole
 * `stat.mode` works). Options that would weaken the
 * guarantee (`tmpCreate`, `tmpPurge: false`) throw a `TypeError`, as does
 * any unknown key.
 *
 * @example Usage
 * ```ts
 * import { readFile, writeFile } from "@x/atomic/compat/atomically";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFile(`${dir}/config.json`, "{}", { mode: 0o600 });
 * console.log(await readFile(`${dir}/config.json`, "utf8"));
 * ```
 *
 * @module
 */
// Reads return Node's Buffer, as atomically's do: node:fs gives exactly that,
// and Deno and Bun provide it too (writes go through the runtime adapter).
import {
  readWhole,
  type ReadWholeOptions,
  readWholeSync,
} from "../runtime/_read_whole.ts";
import type { Buffer } from "node:buffer";
import { currentContext } from "../_context.ts";
import {
  type OptionValues,
  type ResolvedOptions,
  toAbsolutePath,
  toEncoding,
  toSignal,
} from "../_validate.ts";
import { writeResolved, writeResolvedSync } from "../_write.ts";
import {
  peerDataTypeError,
  peerFunction,
  peerOptionsObject,
  peerStringBytes,
  reportTo,
  translateShared,
} from "./_peer_options.ts";
import { retrying, retryingContext, retryingSync } from "./_retry.ts";
import { oneAtATime } from "./_one_at_a_time.ts";
import type { Exception } from "./_exception.ts";

export type { Exception };

/** The encodings `atomically` names. */
export type Encoding =
  | "ascii"
  | "base64"
  | "binary"
  | "hex"
  | "latin1"
  | "utf8"
  | "utf-8"
  | "utf16le"
  | "ucs2"
  | "ucs-2";

/**
 * The former name of {@linkcode Encoding}, kept for code that names it.
 *
 * @deprecated Use {@linkcode Encoding}, atomically's own name for it.
 */
export type AtomicallyEncoding = Encoding;

/** Ends what a `schedule` function started. */
export type Disposer = () => void;

/**
 * The options `atomically`'s `writeFile` and `writeFileSync` take. Only the
 * object's own properties count, each read once: inherited ones (a polluted
 * `Object.prototype`'s too) are ignored.
 */
export interface WriteOptions {
  /**
   * Owner and group of the result, set on the temporary file before the
   * rename; `false`: the creating process's; `null`: as if not given. A
   * non-root process that may not give the file away keeps its own ids.
   *
   * @default {the existing file's owner and group}
   */
  chown?: { uid: number; gid: number } | false | null | undefined;
  /**
   * The encoding of string data; an empty one: `"utf8"`, as with the package.
   *
   * @default {"utf8"}
   */
  encoding?: Encoding | null | undefined;
  /**
   * `false` skips the fsyncs (of the file and of its directory); any other
   * value fsyncs, as with the package.
   *
   * @default {true}
   */
  fsync?: boolean | undefined;
  /**
   * `false` asks `atomically` not to wait for the fsync; here the fsync is
   * always waited for, so the write resolves only once it is durable.
   *
   * @default {true}
   */
  fsyncWait?: boolean | undefined;
  /**
   * Permission bits: the number `0o666` and `false` give what a plain
   * create gives (0o666 less the umask); any other value is applied
   * exactly, as `fs.chmod` takes it: an integer up to 2^32 - 1 (a whole
   * `stat.mode` gives its permission bits) or a string of octal digits
   * (`"666"` too). `null`: as if not given.
   *
   * @default {the existing file's bits; for a new file 0o666 less the umask}
   */
  mode?: number | string | false | null | undefined;
  /**
   * Called with the path before the write starts; the write waits for the
   * promise, and calls the disposer it resolves to when done (asynchronous
   * call only). The write takes its place in call order among the writes
   * to the file once the promise resolves, not when called.
   */
  schedule?: ((filePath: string) => Promise<Disposer>) | undefined;
  /**
   * How long to retry an operation of the write (look at the target and its
   * directory, create the temporary file, write, fsync, rename) that fails
   * with `EMFILE`, `ENFILE`, `EAGAIN`,
   * `EBUSY`, `EACCES` or `EPERM`, in milliseconds, from its first try; `0`
   * or `-1`: never; `null`: the default. The write goes on with the same
   * temporary file.
   *
   * @default {7500 for writeFile, 1000 for writeFileSync}
   */
  timeout?: number | null | undefined;
  /** Not supported: the temporary name must be one `removeStaleTemps()` knows; throws. */
  tmpCreate?: never;
  /** Called with the temporary file's path once it exists, before any data is written. */
  tmpCreated?: ((filePath: string) => unknown) | undefined;
  /** Only `true` is supported: a failed write never leaves its temporary file. */
  tmpPurge?: true | undefined;
}

/**
 * The options `atomically`'s `readFile` and `readFileSync` take, and those
 * of `fs.readFile` it passes on. Only the object's own properties count,
 * each read once: inherited ones are ignored.
 */
export interface ReadOptions {
  /** Decode the content as text in this encoding; without it: a Buffer. */
  encoding?: Encoding | null | undefined;
  /**
   * How to open the file, as `fs.readFile` takes it (`"a+"` creates a
   * missing file, for one).
   *
   * @default {"r"}
   */
  flag?: string | number | undefined;
  /**
   * Ends `readFile` with an `AbortError` once it aborts, as with
   * `fs.readFile`; `readFileSync` takes it and ignores it, as
   * `fs.readFileSync` does.
   */
  signal?: AbortSignal | undefined;
  /** Accepted for compatibility; reading does not use it. */
  mode?: string | number | false | undefined;
  /**
   * How long to retry a read that fails with a transient code, in
   * milliseconds; `0` or `-1`: never; `null`: the default.
   *
   * @default {7500 for readFile, 1000 for readFileSync}
   */
  timeout?: number | null | undefined;
}

/** Content as `atomically` takes it; streams only in `writeFile`. */
export type Data = string | ArrayBufferView | undefined;

/** The callback of `writeFile`: the error ({@linkcode Exception}), or nothing on success. */
export type Callback = (error?: Exception) => unknown;

const WRITE_KEYS = [
  "chown",
  "encoding",
  "fsync",
  "fsyncWait",
  "mode",
  "schedule",
  "timeout",
  "tmpCreate",
  "tmpCreated",
  "tmpPurge",
];
const READ_KEYS = ["encoding", "flag", "mode", "signal", "timeout"];

const TIMEOUT_ASYNC_MS = 7500;
const TIMEOUT_SYNC_MS = 1000;

function timeoutOf(given: OptionValues, fallback: number): number {
  const timeout = given.timeout;
  // The package reads `options.timeout ?? default`.
  if (timeout === undefined || timeout === null) return fallback;
  if (typeof timeout !== "number" || Number.isNaN(timeout)) {
    throw new TypeError('Cannot use option "timeout": expected a number');
  }
  return timeout;
}

interface WritePlan {
  resolved: ResolvedOptions;
  timeout: number;
  schedule: ((filePath: string) => Promise<Disposer>) | undefined;
}

function translate(options: unknown, sync: boolean): WritePlan {
  const { given, resolved } = translateShared(
    options,
    "atomically",
    WRITE_KEYS,
    (mode) => mode === 0o666 || mode === 0,
  );
  if (given.tmpCreate !== undefined) {
    throw new TypeError(
      'Cannot use option "tmpCreate": temporary names are chosen by @x/atomic so that removeStaleTemps() can find them after a crash; remove the option',
    );
  }
  if (given.tmpPurge !== undefined && given.tmpPurge !== true) {
    throw new TypeError(
      'Cannot use option "tmpPurge": a failed write always removes its temporary file (the target keeps its old content); remove the option',
    );
  }
  // `fsyncWait` is taken and not read: the fsync is always waited for.
  const schedule = peerFunction<(filePath: string) => Promise<Disposer>>(
    given.schedule,
    'option "schedule"',
  );
  if (schedule !== undefined && sync) {
    throw new TypeError(
      'Cannot use option "schedule" with writeFileSync: a synchronous write cannot wait for it',
    );
  }
  const created = peerFunction<(path: string) => unknown>(
    given.tmpCreated,
    'option "tmpCreated"',
  );
  // atomically calls it and goes on without waiting.
  resolved.tempCreated = created && ((path) => void created(path));
  resolved.mkdir = true; // atomically creates missing parent directories
  return {
    resolved,
    timeout: timeoutOf(given, sync ? TIMEOUT_SYNC_MS : TIMEOUT_ASYNC_MS),
    schedule,
  };
}

/**
 * What the package writes: a string, bytes, `undefined` (nothing), and in
 * `writeFile` a stream (an async iterable, which it pipes); other data
 * (an array, a `Set`, a generator, an `ArrayBuffer`) fails as Node's
 * `fs.writeFile` fails it, with code `ERR_INVALID_ARG_TYPE`.
 */
function toData(
  data: unknown,
  resolved: ResolvedOptions,
  sync: boolean,
): unknown {
  if (data === undefined) return new Uint8Array(0);
  if (typeof data === "string") {
    return peerStringBytes(data, resolved.encoding);
  }
  if (ArrayBuffer.isView(data)) return data;
  if (
    !sync && typeof data === "object" && data !== null &&
    Symbol.asyncIterator in data
  ) {
    // A stream's strings are UTF-8 whatever the encoding, as the package
    // pipes them.
    resolved.encoding = "utf8";
    return data;
  }
  throw peerDataTypeError(data, "Buffer, TypedArray, or DataView");
}

async function write(
  filePath: string | URL,
  data: unknown,
  options: unknown,
): Promise<void> {
  const target = toAbsolutePath(filePath, "filePath");
  const { resolved, timeout, schedule } = translate(options, false);
  const content = toData(data, resolved, false);
  // The write takes its place in call order once its schedule resolves,
  // not at the call: a schedule may wait for anything (a write called
  // later, or nothing ever), and a place taken meanwhile would hold back
  // every later write of the thread (`_one_at_a_time.ts`). Without one,
  // nothing is awaited before the place is taken.
  const dispose = schedule ? await schedule(String(filePath)) : undefined;
  try {
    const context = retryingContext(currentContext(), timeout);
    await oneAtATime(
      target,
      (ticket) => writeResolved(target, content, resolved, context, ticket),
    );
  } finally {
    if (typeof dispose === "function") dispose();
  }
}

/**
 * Replaces `filePath` with `data` atomically, like `atomically`'s
 * `writeFile`; writes to one file run one after the other, in call order.
 *
 * @param filePath The file to replace; missing parent directories are created.
 * @param data Text, bytes, a readable stream, or `undefined` for an empty file.
 * @param options The options, or the encoding of string data.
 * @param callback Called with the error, or with nothing on success; `null`: none.
 * @returns A promise that resolves when the file is replaced.
 * @throws {TypeError} If `callback` is neither a function nor `null`/`undefined` (thrown, before the write starts).
 * @throws {TypeError} If an option is unknown, unsupported or of the wrong type.
 * @throws {AtomicWriteError} If a file-system step fails; the file is then unchanged.
 *
 * @example Usage
 * ```ts
 * import { writeFile } from "@x/atomic/compat/atomically";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFile(`${dir}/nested/file.txt`, "data", { fsync: false });
 * ```
 */
export function writeFile(
  filePath: string | URL,
  data: Data | AsyncIterable<Uint8Array>,
  options?: Encoding | WriteOptions,
  callback?: Callback | null,
): Promise<void>;
/**
 * Replaces `filePath` with `data` atomically and reports to `callback`.
 *
 * @param filePath The file to replace.
 * @param data The new content.
 * @param callback Called with the error, or with nothing on success.
 * @returns A promise that resolves when the file is replaced.
 *
 * @example Usage
 * ```ts
 * import { writeFile } from "@x/atomic/compat/atomically";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFile(`${dir}/file.txt`, "data", (error) => {
 *   if (error) console.error(error);
 * });
 * ```
 */
export function writeFile(
  filePath: string | URL,
  data: Data | AsyncIterable<Uint8Array>,
  callback: Callback,
): Promise<void>;
export function writeFile(
  filePath: string | URL,
  data: Data | AsyncIterable<Uint8Array>,
  options?: Encoding | WriteOptions | Callback,
  callback?: Callback | null,
): Promise<void> {
  if (typeof options === "function") {
    callback = options;
    options = undefined;
  }
  // Checked before the write starts, so that a bad one touches no file.
  const report = peerFunction<Callback>(callback, "the callback");
  const promise = write(filePath, data, options);
  reportTo(promise, report);
  return promise;
}

/**
 * Replaces `filePath` with `data` atomically, blocking, like
 * `atomically`'s `writeFileSync`.
 *
 * @param filePath The file to replace; missing parent directories are created.
 * @param data Text, bytes, or `undefined` for an empty file.
 * @param options The options, or the encoding of string data.
 * @throws {TypeError} If an option is unknown, unsupported or of the wrong type.
 * @throws {AtomicWriteError} If a file-system step fails; the file is then unchanged.
 *
 * @example Usage
 * ```ts
 * import { writeFileSync } from "@x/atomic/compat/atomically";
 *
 * const dir = Deno.makeTempDirSync();
 * writeFileSync(`${dir}/config.json`, "{}", { mode: 0o666 });
 * ```
 */
export function writeFileSync(
  filePath: string | URL,
  data: Data,
  options?: Encoding | WriteOptions,
): void {
  const target = toAbsolutePath(filePath, "filePath");
  const { resolved, timeout } = translate(options, true);
  const content = toData(data, resolved, true);
  const context = retryingContext(currentContext(), timeout);
  writeResolvedSync(target, content, resolved, context);
}

/** A read's bytes, as text in `encoding` if one is given. */
function decoded(data: Buffer, encoding: string | undefined): string | Buffer {
  return encoding === undefined
    ? data
    : data.toString(encoding as BufferEncoding);
}

function readPlan(options: unknown, sync: boolean) {
  const given = peerOptionsObject(options, "atomically", READ_KEYS);
  // A falsy encoding (`""`, `null`) reads bytes, as `fs.readFile` does.
  const encoding = given.encoding ? toEncoding(given.encoding) : undefined;
  // Passed on as the package passes them to `fs.readFile`, which checks
  // them; `fs.readFileSync` ignores the signal.
  const passed: ReadWholeOptions = {
    flag: given.flag as ReadWholeOptions["flag"],
    signal: sync ? undefined : toSignal(given.signal),
  };
  const fallback = sync ? TIMEOUT_SYNC_MS : TIMEOUT_ASYNC_MS;
  return { encoding, passed, timeout: timeoutOf(given, fallback) };
}

/**
 * Reads `filePath`, retrying transient failures, like `atomically`'s
 * `readFile`.
 *
 * @param filePath The file to read.
 * @param options The options, or the encoding to decode with.
 * @returns The content: text with an encoding, otherwise a Buffer.
 * @throws {TypeError} If an option is unknown or of the wrong type.
 *
 * @example Usage
 * ```ts
 * import { readFile, writeFile } from "@x/atomic/compat/atomically";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFile(`${dir}/a.txt`, "data");
 * const text: string = await readFile(`${dir}/a.txt`, "utf8");
 * ```
 */
export function readFile(
  filePath: string | URL,
  options: Encoding | ReadOptions & { encoding: string },
): Promise<string>;
/**
 * Reads `filePath` as bytes, retrying transient failures.
 *
 * @param filePath The file to read.
 * @param options The options.
 * @returns The content.
 *
 * @example Usage
 * ```ts
 * import { readFile, writeFile } from "@x/atomic/compat/atomically";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFile(`${dir}/a.bin`, new Uint8Array([1, 2]));
 * const bytes = await readFile(`${dir}/a.bin`);
 * ```
 */
export function readFile(
  filePath: string | URL,
  options?: ReadOptions,
): Promise<Buffer>;
export async function readFile(
  filePath: string | URL,
  options?: Encoding | ReadOptions,
): Promise<string | Buffer> {
  const { encoding, passed, timeout } = readPlan(options, false);
  const { sleep } = currentContext().adapter.async;
  return await retrying(
    () =>
      new Promise<string | Buffer>((resolve, reject) =>
        // `fs.readFile`, also for a file of 2 GiB or more (Node's refuses it).
        readWhole(filePath as string, (error, data) => {
          if (error) reject(error);
          else resolve(decoded(data, encoding));
        }, passed)
      ),
    timeout,
    sleep,
  );
}

/**
 * Reads `filePath`, blocking, retrying transient failures, like
 * `atomically`'s `readFileSync`.
 *
 * @param filePath The file to read.
 * @param options The options, or the encoding to decode with.
 * @returns The content: text with an encoding, otherwise a Buffer.
 * @throws {TypeError} If an option is unknown or of the wrong type.
 *
 * @example Usage
 * ```ts
 * import { readFileSync, writeFileSync } from "@x/atomic/compat/atomically";
 *
 * const dir = Deno.makeTempDirSync();
 * writeFileSync(`${dir}/a.txt`, "data");
 * const text: string = readFileSync(`${dir}/a.txt`, "utf8");
 * ```
 */
export function readFileSync(
  filePath: string | URL,
  options: Encoding | ReadOptions & { encoding: string },
): string;
/**
 * Reads `filePath` as bytes, blocking, retrying transient failures.
 *
 * @param filePath The file to read.
 * @param options The options.
 * @returns The content.
 *
 * @example Usage
 * ```ts
 * import { readFileSync, writeFileSync } from "@x/atomic/compat/atomically";
 *
 * const dir = Deno.makeTempDirSync();
 * writeFileSync(`${dir}/a.bin`, new Uint8Array([1, 2]));
 * const bytes = readFileSync(`${dir}/a.bin`);
 * ```
 */
export function readFileSync(
  filePath: string | URL,
  options?: ReadOptions,
): Buffer;
export function readFileSync(
  filePath: string | URL,
  options?: Encoding | ReadOptions,
): string | Buffer {
  const { encoding, passed, timeout } = readPlan(options, true);
  const { sleep } = currentContext().adapter.sync;
  return retryingSync(
    () =>
      decoded(readWholeSync(filePath as string, true, passed.flag), encoding),
    timeout,
    sleep,
  );
}
