/**
 * Argument checks: bad arguments throw before any file is touched. (A
 * relative path with no current directory to resolve it against is not a bad
 * argument: see `absolute`.)
 */
import { isAbsolute, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Buffer } from "node:buffer";
import { isArrayBuffer, isDataView } from "node:util/types";
import { AtomicWriteError } from "./atomic_write_error.ts";
import { errorCode } from "./_error_code.ts";
import { currentContext } from "./_context.ts";

/** Who should own the result (see `Replacement` in `_replace.ts`). */
export type OwnerChoice =
  /** The existing target's owner and group, where allowed (the default). */
  | "target"
  /** Whoever creates the file: no chown at all. */
  | "process"
  /** These ids, set on the temporary file before the rename. */
  | { uid: number; gid: number };

/** Options with every default filled in. */
export interface ResolvedOptions {
  fsync: boolean;
  mode: number | undefined;
  overwrite: boolean;
  mkdir: boolean;
  signal: AbortSignal | undefined;
  /** How strings are turned into bytes. */
  encoding: Encoding;
  /**
   * With `mode` unset: `true` keeps the existing target's bits, `false`
   * gives what a plain create gives (0o666 less the umask) even over an
   * existing file. Not a public option: the compat entry points set it.
   */
  keepMode: boolean;
  /** Not a public option: the compat entry points set it. */
  owner: OwnerChoice;
  /**
   * Called with the temporary file's path once it exists with its final
   * owner and bits, before any data is written; a promise it returns is
   * awaited (asynchronous API only). Not a public option.
   */
  tempCreated: ((path: string) => unknown) | undefined;
}

/** The option names of {@linkcode AtomicOptions}, for the unknown-key check. */
export const ATOMIC_OPTION_KEYS: readonly string[] = [
  "encoding",
  "fsync",
  "mkdir",
  "mode",
  "overwrite",
  "signal",
];

/**
 * The string encodings every runtime's `node:buffer` turns into the same
 * bytes (Deno, Bun and Node agree on all of them), lower case.
 */
const ENCODINGS = [
  "utf8",
  "utf-8",
  "utf16le",
  "utf-16le",
  "ucs2",
  "ucs-2",
  "latin1",
  "binary",
  "ascii",
  "base64",
  "base64url",
  "hex",
] as const;

/** A string encoding: one of {@linkcode ENCODINGS}. */
export type Encoding = typeof ENCODINGS[number];

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value;
}

/** The absolute path for `path`, a non-empty string or a `file:` URL. */
export function toAbsolutePath(path: unknown, what = "path"): string {
  let text: string;
  if (typeof path === "string") {
    text = path;
  } else if (path instanceof URL) {
    if (path.protocol !== "file:") {
      throw new TypeError(
        `Cannot use ${what} "${path.href}": only file: URLs name files`,
      );
    }
    text = urlPath(path, what);
  } else {
    throw new TypeError(
      `Cannot use ${what}: expected a string or a URL, got ${describe(path)}`,
    );
  }
  if (text === "") throw new TypeError(`Cannot use ${what}: it is empty`);
  if (text.includes("\0")) {
    throw new TypeError(
      `Cannot use ${what} ${JSON.stringify(text)}: it contains a NUL byte`,
    );
  }
  refuseLoneSurrogates(text, what);
  return absolute(text, what);
}

/**
 * Throws a TypeError if `text` holds a lone surrogate: not Unicode text, so
 * it has no UTF-8 form, and the runtimes write it as U+FFFD (Node and Deno
 * keep it in the path they return, Bun does not). It would name another
 * file than the one it spells, like a non-UTF-8 `file:` URL.
 */
export function refuseLoneSurrogates(text: string, what: string): void {
  if (text.isWellFormed()) return;
  throw new TypeError(
    `Cannot use ${what} ${
      JSON.stringify(text)
    }: it holds a lone surrogate, which is not Unicode text and would name another file`,
  );
}

/**
 * The path `url` (a `file:` URL) names, or a TypeError naming it. Its
 * percent-encoding must decode to UTF-8 (Node's rule): otherwise Node and
 * Deno throw a URIError, and Bun keeps `%ZZ` as it is and gives `""` for
 * `%E9`, which names no file.
 */
function urlPath(url: URL, what: string): string {
  const refuse = (why: string, cause?: unknown) =>
    new TypeError(`Cannot use ${what} "${url.href}": ${why}`, { cause });
  try {
    decodeURIComponent(url.pathname);
  } catch {
    throw refuse("its path is not percent-encoded UTF-8");
  }
  try {
    return fileURLToPath(url);
  } catch (error) {
    // Node's own TypeErrors (a host on POSIX, an encoded `/`), with the URL.
    throw refuse(
      error instanceof Error ? error.message : String(error),
      error,
    );
  }
}

/**
 * `path` made absolute without normalizing it: `..` after a symbolic link
 * means the link's parent to the kernel, not the text's, and a trailing `/`
 * says the path must be a directory. (Windows resolves `..` as text itself.)
 * A relative path is resolved against the current directory's path as the
 * kernel has it now (`_current_directory.ts`), and when no path leads to it
 * (deleted, or in another mount namespace) fails with an
 * {@linkcode AtomicWriteError}, `ENOENT` on every runtime (Deno's `NotFound`, Node's and Bun's `uv_cwd` error as its cause);
 * when the current directory's path is longer than `PATH_MAX`, Node's and
 * Bun's `getcwd` fail with `ERANGE`, which is `ENAMETOOLONG` here, as Deno
 * (which has the path) gets from the first call that uses it; when it is not
 * UTF-8, `EILSEQ` (Node and Bun would name another directory, spelled with
 * U+FFFD; Deno refuses it); when its inode number is above 2^53 and the
 * runtime cannot give it exactly (Deno without `--allow-ffi`), `EOVERFLOW`.
 */
function absolute(path: string, what: string): string {
  try {
    if (sep === "\\") {
      return resolve(path) + (/[\\/]$/.test(path) ? sep : "");
    }
    if (isAbsolute(path)) return path;
    const cwd = currentContext().adapter.currentDirectory();
    return cwd.endsWith(sep) ? cwd + path : cwd + sep + path;
  } catch (error) {
    const given = errorCode(error) ?? "ENOENT";
    const code = given === "ERANGE" ? "ENAMETOOLONG" : given;
    throw new AtomicWriteError({
      code,
      operation: "resolve path",
      path,
      target: path,
      task: `use ${what} "${path}"`,
      cause: error,
      reason: code === "ENOENT"
        ? "no path leads to the current directory any more (it was deleted, or is another mount namespace's)"
        : code === "ENAMETOOLONG"
        ? "the current directory's path is longer than PATH_MAX"
        : code === "EILSEQ"
        ? "the current directory's path is not valid UTF-8, and as a string would name another directory"
        : code === "EOVERFLOW"
        ? "the current directory cannot be told from others: its inode number is above 2^53, which Deno gives rounded without --allow-ffi"
        : undefined,
    });
  }
}

/**
 * The option `key`'s number of milliseconds, `fallback` if not given.
 * Throws a `TypeError` for another type, a `RangeError` for a negative
 * number or NaN (and, where `positive`, for 0 and infinity).
 */
export function toMilliseconds(
  value: unknown,
  key: string,
  fallback: number,
  positive = false,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot use option "${key}": expected a number, got ${typeof value}`,
    );
  }
  if (
    Number.isNaN(value) || value < 0 ||
    (positive && (value === 0 || !Number.isFinite(value)))
  ) {
    throw new RangeError(
      `Cannot use option "${key}": ${value} is not a ${
        positive ? "positive finite" : "non-negative"
      } number of milliseconds`,
    );
  }
  return value;
}

/** A boolean option's value; `undefined` if not given. */
export function optionalBoolean(
  value: unknown,
  key: string,
): boolean | undefined {
  if (value !== undefined && typeof value !== "boolean") {
    throw new TypeError(
      `Cannot use option "${key}": expected a boolean, got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * Options as {@linkcode takeOptions} took them: the caller's own values of
 * the valid keys it has, each read once, on an object with no prototype (so
 * a key not given reads `undefined`, whatever `Object.prototype` holds).
 */
export type OptionValues = { readonly [key: string]: unknown };

/**
 * Takes an options argument once, for an entry point that then uses only
 * what this returns: `undefined` is no options; anything but an object is a
 * TypeError (`notObject` says it, given what was got); so is any own string
 * key, enumerable or not, that is not in `valid` (a misspelt or foreign
 * option must not be ignored), naming them and the valid ones. The rest is
 * each valid key the object has as its own, read exactly once: later checks
 * and uses see one value, never a getter's second answer, and inherited
 * keys (a class's getters, or a polluted `Object.prototype`) are not options.
 */
export function takeOptions(
  options: unknown,
  valid: readonly string[],
  what = "options",
  notObject = (got: string) =>
    `Cannot use ${what}: expected an object, got ${got}`,
): OptionValues {
  const taken: Record<string, unknown> = Object.create(null);
  if (options === undefined) return taken;
  if (options === null || typeof options !== "object") {
    throw new TypeError(notObject(describe(options)));
  }
  const keys = Reflect.ownKeys(options).filter((key) =>
    typeof key === "string"
  ) as string[];
  const unknown = keys.filter((key) => !valid.includes(key));
  if (unknown.length > 0) {
    const names = (keys: readonly string[]) =>
      keys.map((key) => `"${key}"`).join(", ");
    throw new TypeError(
      `Cannot use ${what}: unknown ${
        unknown.length === 1 ? "option" : "options"
      } ${names(unknown)} (valid: ${names(valid)})`,
    );
  }
  for (const key of keys) taken[key] = (options as OptionValues)[key];
  return taken;
}

/**
 * The `signal` option: `undefined`, or an `AbortSignal` the runtime made.
 * An object made from `AbortSignal.prototype` passes `instanceof` and then
 * throws from the runtime's own getters, with another error on each
 * runtime: reading `aborted` here finds it, and refuses it with the same
 * TypeError everywhere.
 */
export function toSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (value instanceof AbortSignal) {
    try {
      if (typeof value.aborted === "boolean") return value;
    } catch {
      // Not a signal the runtime made: refused below.
    }
  }
  throw new TypeError(
    `Cannot use option "signal": expected an AbortSignal, got ${
      describe(value)
    }`,
  );
}

/** Checks an `encoding` option; `undefined` and `null` mean UTF-8. */
export function toEncoding(value: unknown, what = "option"): Encoding {
  if (value === undefined || value === null) return "utf8";
  if (typeof value !== "string") {
    throw new TypeError(
      `Cannot use ${what} "encoding": expected a string, got ${
        describe(value)
      }`,
    );
  }
  const name = value.toLowerCase();
  if (!(ENCODINGS as readonly string[]).includes(name)) {
    throw new TypeError(
      `Cannot use ${what} "encoding": "${value}" is not one of ${
        ENCODINGS.join(", ")
      }`,
    );
  }
  return name as Encoding;
}

/** Checks a `mode` option: a permission mask from 0 to 0o7777. */
function toMode(mode: unknown): number {
  if (typeof mode !== "number") {
    throw new TypeError(
      `Cannot use option "mode": expected a number, got ${describe(mode)}`,
    );
  }
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new RangeError(
      `Cannot use option "mode": ${mode} is not a permission mask from 0 to 0o7777`,
    );
  }
  return mode;
}

/** The options in effect when none are given. */
function defaults(): ResolvedOptions {
  return {
    fsync: true,
    mode: undefined,
    overwrite: true,
    mkdir: false,
    signal: undefined,
    encoding: "utf8",
    keepMode: true,
    owner: "target",
    tempCreated: undefined,
  };
}

/**
 * Checks `options` and fills in the defaults. `valid` lists the keys the
 * caller takes: an API with options of its own beyond {@linkcode AtomicOptions}
 * passes them too, and checks their values itself.
 */
export function resolveOptions(
  options: unknown,
  valid: readonly string[] = ATOMIC_OPTION_KEYS,
): ResolvedOptions {
  return resolveTaken(takeOptions(options, valid));
}

/**
 * Checks the write's options in `given`, as {@linkcode takeOptions} took
 * them, and fills in the defaults.
 */
export function resolveTaken(given: OptionValues): ResolvedOptions {
  return {
    ...defaults(),
    fsync: optionalBoolean(given.fsync, "fsync") ?? true,
    overwrite: optionalBoolean(given.overwrite, "overwrite") ?? true,
    mkdir: optionalBoolean(given.mkdir, "mkdir") ?? false,
    signal: toSignal(given.signal),
    mode: given.mode === undefined ? undefined : toMode(given.mode),
    encoding: toEncoding(given.encoding),
  };
}

const encoder = new TextEncoder();

/**
 * `chunk` as bytes, a `Uint8Array` of this realm: strings in `encoding`, any
 * `ArrayBufferView` (of any realm) as a view of the same memory (not copied), an `ArrayBuffer` (of any realm) as all of
 * its bytes. A detached buffer (transferred, as to a worker) is a
 * TypeError, whatever views it: a `Uint8Array` of one reads as empty, and
 * would empty the file. So is a view that a resizable buffer, shrunk, left
 * out of its bounds; a view of a resizable buffer is copied, since it could
 * shrink before it is written (or of a growable `SharedArrayBuffer`, whose
 * length-tracking views could grow). Any other buffer can only be detached
 * meanwhile, which {@linkcode checkNotDetached} finds.
 */
export function toBytes(
  chunk: unknown,
  what = "data",
  encoding: Encoding = "utf8",
): Uint8Array {
  if (typeof chunk === "string") {
    // Then taken as any bytes: an encoder of another realm (a `node:vm`
    // context given the host's) gives that realm's `Uint8Array`.
    chunk = encoding === "utf8" || encoding === "utf-8"
      ? encoder.encode(chunk)
      : Buffer.from(chunk, encoding);
  }
  const buffer = isArrayBuffer(chunk)
    ? chunk
    : ArrayBuffer.isView(chunk)
    ? chunk.buffer
    : undefined;
  if (buffer === undefined) {
    throw new TypeError(
      `Cannot write ${what}: expected a string, an ArrayBufferView or an ArrayBuffer, got ${
        describe(chunk)
      }`,
    );
  }
  checkNotDetached(buffer, what);
  if (canChangeLength(buffer)) {
    return copyOfResizable(chunk as ArrayBufferView | ArrayBuffer, what);
  }
  if (chunk === buffer) return new Uint8Array(buffer);
  const view = chunk as ArrayBufferView;
  return view instanceof Uint8Array
    ? view
    : new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/**
 * Throws the TypeError of a detached `buffer` (transferred, as to a worker):
 * before the bytes of one are written, since a view of it reads as empty.
 */
export function checkNotDetached(
  buffer: ArrayBufferLike,
  what = "data",
): void {
  if ((buffer as { detached?: boolean }).detached === true) {
    throw new TypeError(
      `Cannot write ${what}: its ArrayBuffer is detached (transferred), so it holds no bytes`,
    );
  }
}

/** `%TypedArray%.prototype.slice`, which refuses a typed array out of its buffer's bounds. */
const typedArraySlice = Object.getPrototypeOf(Uint8Array.prototype).slice as (
  this: ArrayBufferView,
  start: number,
  end: number,
) => unknown;

/**
 * Whether `buffer` can change length after the call: a resizable
 * `ArrayBuffer` (which can shrink), or a growable `SharedArrayBuffer`,
 * whose length-tracking views would then write more than was given.
 */
function canChangeLength(buffer: ArrayBufferLike): boolean {
  const { resizable, growable } = buffer as {
    resizable?: boolean;
    growable?: boolean;
  };
  return resizable === true || growable === true;
}

/**
 * A copy of the bytes of `chunk`, a resizable `ArrayBuffer` or a growable
 * `SharedArrayBuffer`, or a view of
 * one, which could shrink before they are written; a view that it has
 * shrunk out of already (which reads as empty) is a TypeError.
 */
function copyOfResizable(
  chunk: ArrayBufferView | ArrayBuffer,
  what: string,
): Uint8Array {
  if (!ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.slice(0));
  try {
    // Each throws a TypeError out of bounds: a DataView's byteLength, a
    // typed array's slice (its byteLength would read 0).
    if (!isDataView(chunk)) typedArraySlice.call(chunk, 0, 0);
    return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)
      .slice();
  } catch {
    throw new TypeError(
      `Cannot write ${what}: its resizable ArrayBuffer was shrunk out of the view's bounds, so it holds no bytes`,
    );
  }
}

/** The bytes of `chunks`, one after the other, in one buffer. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let total = 0;
  for (const chunk of chunks) total += chunk.length;
  const all = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

/** Whether `data` is written as one buffer (not streamed from an iterable). */
export function isWhole(
  data: unknown,
): data is string | ArrayBufferView | ArrayBuffer {
  return typeof data === "string" || ArrayBuffer.isView(data) ||
    data instanceof ArrayBuffer;
}
