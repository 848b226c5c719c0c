/**
 * A drop-in for the npm package [`steno`](https://www.npmjs.com/package/steno)
 * (what `lowdb` writes with): the same `Writer` class, backed by
 * {@linkcode AtomicWriter}. Bursts of writes still coalesce (at most one
 * write in flight and one pending, the latest data wins), and each write is
 * now also fsynced, file and directory, so it survives a power cut, and
 * made with a unique temporary file, so two writers never share one.
 *
 * ```ts ignore
 * // before: import { Writer } from "steno";
 * import { Writer } from "@x/atomic/compat/steno";
 * ```
 *
 * @example Usage
 * ```ts
 * import { Writer } from "@x/atomic/compat/steno";
 *
 * const dir = await Deno.makeTempDir();
 * const file = new Writer(`${dir}/db.json`);
 * await file.write(JSON.stringify({ posts: [] }));
 * ```
 *
 * @module
 */
import { AtomicWriter } from "../atomic_writer.ts";
import { isWhole, resolveOptions, toAbsolutePath } from "../_validate.ts";
import { toContent } from "../_write.ts";
import type { Content } from "../_write_in_turn.ts";
import { writeContent } from "../_writer_content.ts";
import { peerDataTypeError } from "./_peer_options.ts";

/** A path as `steno` takes it; bytes must be UTF-8 (they are decoded as such). */
export type PathLike = string | URL | Uint8Array;

/** What `Writer.write()` takes: text, bytes, or (async) iterables of them. */
export type Data =
  | string
  | ArrayBufferView
  | Iterable<string | ArrayBufferView>
  | AsyncIterable<string | ArrayBufferView>;

const decoder = new TextDecoder("utf-8", { fatal: true });

function toPath(filename: PathLike): string | URL {
  if (!(filename instanceof Uint8Array)) return filename;
  try {
    return decoder.decode(filename);
  } catch {
    throw new TypeError(
      "Cannot use filename: its bytes are not UTF-8 (names that are not text cannot be given on every runtime)",
    );
  }
}

/**
 * Whether `data` is what steno's `fs.writeFile` takes: a string, an
 * `ArrayBufferView`, or an iterable or async iterable of them (not an
 * `ArrayBuffer`, which Node's `fs.writeFile` refuses).
 */
function isData(data: unknown): boolean {
  if (typeof data === "string" || ArrayBuffer.isView(data)) return true;
  return typeof data === "object" && data !== null &&
    (Symbol.iterator in data || Symbol.asyncIterator in data);
}

/** The TypeError steno's `fs.writeFile` rejects other data with, code and all. */
function dataTypeError(data: unknown): TypeError {
  return peerDataTypeError(
    data,
    "Buffer, TypedArray, or DataView, or an Iterable or AsyncIterable",
  );
}

/**
 * Writes one file often and safely, like `steno`'s `Writer`: calls made while
 * a write runs are folded into one next write carrying the data of the
 * latest call, whatever its type: an iterable (a lowdb adapter may pass
 * one) is folded like text, and pulled only if it is still the latest when
 * its write starts (as steno, which never hands a replaced one to
 * `fs.writeFile`). Writes to the file by this `Writer` or any other land in
 * call order: the latest call wins. A relative path is resolved at each
 * call, against the current directory then, as steno does.
 *
 * @example Usage
 * ```ts
 * import { Writer } from "@x/atomic/compat/steno";
 *
 * const dir = await Deno.makeTempDir();
 * const writer = new Writer(`${dir}/counter.txt`);
 * await Promise.all([1, 2, 3].map((n) => writer.write(String(n))));
 * ```
 */
export class Writer {
  #filename: string | URL;
  /** The writer for the file the name meant at the latest call. */
  #writer: AtomicWriter;

  /**
   * Makes a writer for `filename`; nothing is written until `write()`.
   *
   * @param filename The file to keep; a relative path is resolved at each `write()`.
   * @throws {TypeError} If `filename` is empty, or bytes that are not UTF-8.
   */
  constructor(filename: PathLike) {
    this.#filename = toPath(filename);
    this.#writer = new AtomicWriter(this.#filename);
  }

  /**
   * Replaces the file's content with `data` (strings as UTF-8).
   *
   * @param data The new content.
   * @returns A promise that resolves once data at least as new is in place.
   * @throws {AtomicWriteError} If the write carrying this data fails.
   *
   * @example Usage
   * ```ts
   * import { Writer } from "@x/atomic/compat/steno";
   *
   * const dir = await Deno.makeTempDir();
   * await new Writer(`${dir}/a.txt`).write("hello");
   * ```
   */
  write(data: Data): Promise<void> {
    if (!isData(data)) return Promise.reject(dataTypeError(data));
    const writer = this.#writerNow();
    if (isWhole(data)) return writer.write(data);
    let content: Content;
    try {
      content = toContent(data, resolveOptions(undefined));
    } catch (error) {
      return Promise.reject(error); // an array holding what is not data
    }
    // Coalesced with the writer's other writes, whatever their data: while
    // one runs, the latest waits and is pulled only once its turn comes.
    return writeContent(writer, content);
  }

  /** The writer for the file `filename` names now. */
  #writerNow(): AtomicWriter {
    let path: string | null;
    try {
      path = toAbsolutePath(this.#filename, "filename");
    } catch {
      path = null; // no current directory: the new writer reports it
    }
    if (path !== this.#writer.path) {
      this.#writer = new AtomicWriter(this.#filename);
    }
    return this.#writer;
  }
}
