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
import { concatBytes, isWhole, toAbsolutePath, toBytes } from "../_validate.ts";

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

/** Iterables (a lowdb adapter may pass one) are collected into one buffer. */
async function collect(data: Data): Promise<string | ArrayBufferView> {
  if (isWhole(data)) return data;
  const chunks: Uint8Array[] = [];
  for await (const chunk of data) chunks.push(toBytes(chunk, "chunk").slice());
  return concatBytes(chunks);
}

function ignore(): void {}

/**
 * Writes one file often and safely, like `steno`'s `Writer`: calls made while
 * a write runs are folded into one next write carrying the data of the
 * latest call, whatever its type (iterables are collected in call order). A
 * relative path is resolved at each call, against the current directory
 * then, as steno does.
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
   * Settles once every call so far has handed its data to a writer; `null`
   * when none is still collecting an iterable.
   */
  #handing: Promise<void> | null = null;

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
    const writer = this.#writerNow();
    if (this.#handing === null && isWhole(data)) return writer.write(data);
    // After the calls before it, even if its data is ready first.
    const handed = (this.#handing ?? Promise.resolve())
      .then(() => collect(data))
      .then((content) => ({ done: writer.write(content) }));
    const handing = handed.then(ignore, ignore);
    this.#handing = handing;
    void handing.then(() => {
      if (this.#handing === handing) this.#handing = null;
    });
    const settled = handed.then(({ done }) => done);
    settled.catch(ignore); // as the writer's own: safe to leave unawaited
    return settled;
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
