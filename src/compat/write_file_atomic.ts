/**
 * A drop-in for the npm package
 * [`write-file-atomic`](https://www.npmjs.com/package/write-file-atomic):
 * the same calls, callbacks and options, with this library's guarantee
 * underneath (fsync of the file and of the directory, no temporary file left
 * behind, symbolic links followed, the same behaviour on Deno, Bun and
 * Node). Change the import and nothing else:
 *
 * ```ts ignore
 * // before: import writeFileAtomic from "write-file-atomic";
 * import writeFileAtomic from "@x/atomic/compat/write-file-atomic";
 * ```
 *
 * Options are translated as the package defines them: a string is the
 * encoding; `mode` and `chown` default to the existing file's and `false`
 * turns that off; `tmpfileCreated` is called with the temporary file's path.
 * Any other option key throws a `TypeError` instead of being ignored.
 *
 * @example Usage
 * ```ts
 * import writeFileAtomic from "@x/atomic/compat/write-file-atomic";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/message.txt`, "Hello", { mode: 0o600 });
 * writeFileAtomic.sync(`${dir}/message.txt`, "Hello again");
 * ```
 *
 * @module
 */
import { currentContext } from "../_context.ts";
import { toAbsolutePath, toBytes } from "../_validate.ts";
import { writeResolved, writeResolvedSync } from "../_write.ts";
import { oneAtATime } from "./_one_at_a_time.ts";
import {
  peerFunction,
  peerStringBytes,
  translateShared,
} from "./_peer_options.ts";
import type { ResolvedOptions } from "../_validate.ts";
import type { Exception } from "./_exception.ts";

export type { Exception };

/**
 * The options `write-file-atomic` takes. Only the object's own properties
 * count, each read once: inherited ones (a polluted `Object.prototype`'s
 * too) are ignored.
 */
export interface WriteFileAtomicOptions {
  /**
   * Owner and group of the result, set on the temporary file before the
   * rename. `false`: the creating process's. A non-root process that may not
   * give the file away keeps its own ids (as with the package).
   *
   * @default {the existing file's owner and group}
   */
  chown?: { uid: number; gid: number } | false | null | undefined;
  /**
   * The encoding of string data (see `AtomicOptions.encoding`); an empty
   * one: `"utf8"`, as with the package.
   *
   * @default {"utf8"}
   */
  encoding?: string | null | undefined;
  /**
   * `false` skips the fsyncs (of the file and of its directory); any other
   * value fsyncs, as with the package.
   *
   * @default {true}
   */
  fsync?: boolean | undefined;
  /**
   * Permission bits of the result, applied exactly, as `fs.chmod` takes
   * them: an integer up to 2^32 - 1 (a whole `stat.mode` gives its
   * permission bits) or a string of octal digits. `false`: what a plain create gives (0o666 less the umask),
   * even over an existing file.
   *
   * @default {the existing file's bits; for a new file 0o666 less the umask}
   */
  mode?: number | string | false | null | undefined;
  /**
   * Called with the temporary file's path once it exists, before any data
   * is written; a promise it returns is awaited (asynchronous call only).
   */
  tmpfileCreated?: ((tmpfile: string) => unknown) | undefined;
}

/** Content as `write-file-atomic` takes it: text, bytes, or nothing (an empty file). */
export type WriteFileAtomicData =
  | string
  | ArrayBufferView
  | ArrayBuffer
  | null
  | undefined;

/**
 * The callback of the asynchronous call: the error ({@linkcode Exception}),
 * or nothing on success. What it returns (a promise: once settled) or
 * throws settles the call; what it throws on success it is called again
 * with, as with the package.
 */
export type WriteFileAtomicCallback = (error?: Exception) => unknown;

const KEYS = ["chown", "encoding", "fsync", "mode", "tmpfileCreated"];

function translate(options: unknown, sync: boolean): ResolvedOptions {
  const { given, resolved } = translateShared(
    options,
    "write-file-atomic",
    KEYS,
    () => false,
  );
  const created = peerFunction<(tmpfile: string) => unknown>(
    given.tmpfileCreated,
    'option "tmpfileCreated"',
  );
  // The synchronous call does not wait for a promise the callback returns.
  resolved.tempCreated = created && sync
    ? (tmpfile) => void created(tmpfile)
    : created;
  return resolved;
}

/** The content to write: nothing is an empty file, other values their `String()`. */
function toData(data: unknown, resolved: ResolvedOptions): Uint8Array {
  if (data === undefined || data === null) return new Uint8Array(0);
  if (ArrayBuffer.isView(data) || data instanceof ArrayBuffer) {
    return toBytes(data);
  }
  return peerStringBytes(String(data), resolved.encoding);
}

/**
 * Replaces `filename` with `data` atomically, like `write-file-atomic`'s
 * default export; calls for one file run one after the other, in call order.
 *
 * @param filename The file to replace.
 * @param data The new content; `null` or `undefined` writes an empty file.
 * @param options The options, or the encoding of string data.
 * @returns A promise that resolves when the file is replaced.
 * @throws {TypeError} If an option is unknown or of the wrong type.
 * @throws {AtomicWriteError} If a file-system step fails; the file is then unchanged.
 *
 * @example Usage
 * ```ts
 * import { writeFile } from "@x/atomic/compat/write-file-atomic";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFile(`${dir}/a.txt`, "data", { mode: 0o600 });
 * ```
 */
export function writeFile(
  filename: string | URL,
  data: WriteFileAtomicData,
  options?: WriteFileAtomicOptions | string | null,
): Promise<void>;
/**
 * Replaces `filename` with `data` atomically and reports to `callback`, as
 * the package does: the callback gets the error, or nothing on success, and
 * what it returns settles the promise.
 *
 * @param filename The file to replace.
 * @param data The new content.
 * @param options The options, or the encoding of string data.
 * @param callback Called with the error, or with nothing on success; if it
 * throws on success, called again with what it threw.
 * @returns A promise of what the callback returns (awaited if a promise),
 * rejected with what it throws.
 *
 * @example Usage
 * ```ts
 * import { writeFile } from "@x/atomic/compat/write-file-atomic";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFile(`${dir}/a.txt`, "data", "utf8", (error) => {
 *   if (error) throw error;
 * });
 * ```
 */
export function writeFile(
  filename: string | URL,
  data: WriteFileAtomicData,
  options: WriteFileAtomicOptions | string | null | undefined,
  callback: WriteFileAtomicCallback,
): Promise<unknown>;
/**
 * Replaces `filename` with `data` atomically and reports to `callback`.
 *
 * @param filename The file to replace.
 * @param data The new content.
 * @param callback Called with the error, or with nothing on success.
 * @returns A promise of what the callback returns, rejected with what it throws.
 *
 * @example Usage
 * ```ts
 * import { writeFile } from "@x/atomic/compat/write-file-atomic";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFile(`${dir}/a.txt`, "data", (error) => {
 *   if (error) console.error(error);
 * });
 * ```
 */
export function writeFile(
  filename: string | URL,
  data: WriteFileAtomicData,
  callback: WriteFileAtomicCallback,
): Promise<unknown>;
export function writeFile(
  filename: string | URL,
  data: WriteFileAtomicData,
  options?: WriteFileAtomicOptions | string | null | WriteFileAtomicCallback,
  callback?: WriteFileAtomicCallback | null,
): Promise<unknown> {
  if (typeof options === "function") {
    callback = options;
    options = undefined;
  }
  // Checked before the write starts, so that a bad one touches no file.
  const report = peerFunction<WriteFileAtomicCallback>(
    callback,
    "the callback",
  );
  const work = (async () => {
    const resolved = translate(options, false);
    const target = toAbsolutePath(filename, "filename");
    const bytes = toData(data, resolved);
    await oneAtATime(
      target,
      (ticket) =>
        writeResolved(target, bytes, resolved, currentContext(), ticket),
    );
  })();
  return report ? settleThrough(work, report) : work;
}

/**
 * What the package's `writeFile` does with a callback: called with the
 * error or with nothing, its result (or throw) settles the promise; a throw
 * on success lands in the same `catch` and calls it again with that error.
 */
async function settleThrough(
  work: Promise<void>,
  callback: WriteFileAtomicCallback,
): Promise<unknown> {
  try {
    await work;
    return callback(undefined);
  } catch (error) {
    return callback(error as Exception);
  }
}

/**
 * Replaces `filename` with `data` atomically, blocking, like
 * `write-file-atomic`'s `sync`.
 *
 * @param filename The file to replace.
 * @param data The new content; `null` or `undefined` writes an empty file.
 * @param options The options, or the encoding of string data.
 * @throws {TypeError} If an option is unknown or of the wrong type.
 * @throws {AtomicWriteError} If a file-system step fails; the file is then unchanged.
 *
 * @example Usage
 * ```ts
 * import { writeFileSync } from "@x/atomic/compat/write-file-atomic";
 *
 * const dir = Deno.makeTempDirSync();
 * writeFileSync(`${dir}/a.txt`, "data", "utf8");
 * ```
 */
export function writeFileSync(
  filename: string | URL,
  data: WriteFileAtomicData,
  options?: WriteFileAtomicOptions | string | null,
): void {
  const resolved = translate(options, true);
  writeResolvedSync(
    toAbsolutePath(filename, "filename"),
    toData(data, resolved),
    resolved,
  );
}

/** `writeFile` with `sync` attached, the shape of the package's default export. */
export interface WriteFileAtomic {
  (
    filename: string | URL,
    data: WriteFileAtomicData,
    options?: WriteFileAtomicOptions | string | null,
  ): Promise<void>;
  (
    filename: string | URL,
    data: WriteFileAtomicData,
    options: WriteFileAtomicOptions | string | null | undefined,
    callback: WriteFileAtomicCallback,
  ): Promise<unknown>;
  (
    filename: string | URL,
    data: WriteFileAtomicData,
    callback: WriteFileAtomicCallback,
  ): Promise<unknown>;
  /** The synchronous form. */
  sync: typeof writeFileSync;
  /**
   * The named exports, for CommonJS callers: `require()` gives this
   * function, so `import { writeFileSync } from …` compiled to CommonJS
   * reads them from it.
   */
  writeFile: typeof writeFile;
  /** The synchronous form, by its exported name. */
  writeFileSync: typeof writeFileSync;
}

/** The synchronous form, also reachable as `writeFileAtomic.sync`. */
export const sync: typeof writeFileSync = writeFileSync;

/**
 * The package's default export: `writeFileAtomic(filename, data, options,
 * callback)` with `writeFileAtomic.sync(filename, data, options)`.
 *
 * @example Usage
 * ```ts
 * import writeFileAtomic from "@x/atomic/compat/write-file-atomic";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/a.txt`, "data");
 * ```
 */
const writeFileAtomic: WriteFileAtomic = Object.assign(
  writeFile as WriteFileAtomic,
  { sync: writeFileSync, writeFile, writeFileSync },
);
export default writeFileAtomic;
// What `require()` of this module gives on Node 22 and later (require of an
// ES module), so that `const writeFileAtomic = require("write-file-atomic")`
// switches by changing the name: the function, not the module namespace.
export { writeFileAtomic as "module.exports" };
