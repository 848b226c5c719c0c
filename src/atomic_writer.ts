/** A coalescing writer for state that is saved often. */
import type { AtomicOptions } from "./atomic_options.ts";
import { takeTicket, type Ticket } from "./_path_queue.ts";
import {
  ATOMIC_OPTION_KEYS,
  type ResolvedOptions,
  resolveTaken,
  takeOptions,
  toAbsolutePath,
  toBytes,
} from "./_validate.ts";
import { type Content, writeInTurn } from "./_write_in_turn.ts";
import { provideContentWrite } from "./_writer_content.ts";
import { AtomicWriteError } from "./atomic_write_error.ts";
import type { Deferred } from "./_deferred.ts";

/** Options of an {@linkcode AtomicWriter}: those of every write it makes. */
export type AtomicWriterOptions = Omit<AtomicOptions, "signal">;

interface Batch {
  /** Bytes; chunks only from steno's `Writer` (`_writer_content.ts`). */
  content: Content;
  /** The batch's place among all writes to the path: that of its newest `write()`. */
  ticket: Ticket;
  done: Deferred<void>;
}

function ignore(): void {}

/**
 * Keeps one file up to date with the latest data when it is saved often
 * (an app's state on every change, a cache, a lowdb-style JSON database).
 * At most one atomic write is in flight and one is pending: a burst of
 * `write()` calls becomes at most two file writes, the latest data wins, and
 * each caller's promise settles only once data at least as new as theirs is
 * in place (and durable, unless `fsync: false`). Each write is a full
 * {@linkcode writeFileAtomic}, so the file is never torn.
 *
 * A caller need not await `write()`: {@linkcode AtomicWriter.flush} reports
 * whether the newest data reached the file.
 *
 * Order across writers: each `write()` takes its place among all writes to
 * the same path in this process (other `AtomicWriter`s, `writeFileAtomic()`,
 * `AtomicFile.commit()`) when it is called, and data still waiting in a writer
 * moves to the back with each newer `write()`. So the file ends with the data
 * of the last call, whichever writer or function made it.
 *
 * For exact, ordered writes where every call's data must reach the file, use
 * {@linkcode writeFileAtomic} itself.
 *
 * @example Usage
 * ```ts
 * import { AtomicWriter } from "@x/atomic";
 *
 * const dir = await Deno.makeTempDir();
 * const writer = new AtomicWriter(`${dir}/db.json`);
 * const state = { clicks: 0 };
 * const saves = [];
 * for (let i = 0; i < 100; i++) {
 *   state.clicks++;
 *   saves.push(writer.write(JSON.stringify(state))); // at most two real writes
 * }
 * await Promise.all(saves);
 * ```
 */
export class AtomicWriter {
  /**
   * The absolute path of the file this writer keeps (the path as given if it
   * is relative and the current directory no longer exists: then every
   * write fails with `ENOENT`).
   */
  readonly path: string;
  #options: ResolvedOptions;
  #running: Promise<void> | null = null;
  /** The batch being written, if any. */
  #current: Batch | null = null;
  #pending: Batch | null = null;
  /** The error of the newest write, if it failed: the file lacks the newest data. */
  #failure: { error: unknown } | null = null;
  /** The error of the newest `write()` call, if its data was refused (of the wrong type). */
  #refused: { error: unknown } | null = null;
  /** Why no write can be made: the relative path could not be resolved. */
  #unresolved: AtomicWriteError | null = null;

  /**
   * Makes a writer for `path`; nothing is written until {@linkcode AtomicWriter.write}.
   * File-system failures, such as a relative `path` when the current
   * directory no longer exists, are reported by `write()` and `flush()`.
   *
   * @param path The file to keep (a string or a `file:` URL).
   * @param options How every write is made; see {@linkcode AtomicOptions}.
   * @throws {TypeError} If `path` is not a non-empty string or `file:` URL, or an option is unknown or has the wrong type.
   * @throws {RangeError} If `mode` is not a permission mask.
   */
  constructor(path: string | URL, options?: AtomicWriterOptions) {
    try {
      this.path = toAbsolutePath(path);
    } catch (error) {
      // No current directory for a relative path: every write fails with it.
      if (!(error instanceof AtomicWriteError)) throw error;
      this.path = error.path;
      this.#unresolved = error;
    }
    const given = takeOptions(options, ATOMIC_OPTION_KEYS);
    if ("signal" in given) {
      throw new TypeError(
        'Cannot use option "signal" with an AtomicWriter: it outlives any one write',
      );
    }
    this.#options = resolveTaken(given);
  }

  /**
   * Saves `data` as the file's newest content, replacing any data still
   * waiting to be written.
   *
   * @param data The new content: a string (in the `encoding` option, UTF-8
   * by default), any `ArrayBufferView` or an `ArrayBuffer`.
   * @returns A promise that resolves once data at least as new as `data` is
   * in place. Leaving it unawaited is safe: its failure is not an unhandled
   * rejection, and {@linkcode AtomicWriter.flush} reports it if no newer data
   * made it to the file (data of the wrong type: until a later `write()` of
   * good data).
   * @throws {TypeError} If `data` is not one of those.
   * @throws {AtomicWriteError} If the write carrying this data fails.
   *
   * @example Usage
   * ```ts
   * import { AtomicWriter } from "@x/atomic";
   *
   * const dir = await Deno.makeTempDir();
   * const writer = new AtomicWriter(`${dir}/state.json`);
   * await writer.write('{"ready":true}');
   * ```
   */
  write(data: string | ArrayBufferView | ArrayBuffer): Promise<void> {
    let bytes: Uint8Array;
    try {
      // Copied: the caller may change its buffer before the write happens.
      bytes = typeof data === "string"
        ? toBytes(data, "data", this.#options.encoding)
        : toBytes(data).slice();
    } catch (error) {
      // The newest call's data never reaches the file: flush says so, until
      // a later write of good data.
      this.#refused = { error };
      const refused = Promise.reject(error);
      refused.catch(ignore); // a caller may leave it unawaited
      return refused;
    }
    return this.#enqueue(bytes);
  }

  /** Puts `content` in line: the newest data, replacing any still waiting. */
  #enqueue(content: Content): Promise<void> {
    this.#refused = null;
    if (this.#unresolved) {
      this.#failure = { error: this.#unresolved };
      const failed = Promise.reject(this.#unresolved);
      failed.catch(ignore); // a caller may leave it unawaited
      return failed;
    }
    const pending = this.#pending;
    if (pending) {
      pending.content = content;
      // Newer data moves to the back, behind every write called since; in
      // a burst of writes with none called between, its place is the back
      // already, and a replaced write costs nothing.
      if (!pending.ticket.newest) {
        pending.ticket.pass();
        pending.ticket = takeTicket(this.path);
      }
      return pending.done.promise;
    }
    const ticket = takeTicket(this.path);
    const batch: Batch = { content, ticket, done: Promise.withResolvers() };
    batch.done.promise.catch(ignore); // a caller may leave it unawaited
    if (this.#running) this.#pending = batch;
    else this.#start(batch);
    return batch.done.promise;
  }

  /**
   * Waits until the data of every write asked for so far is in the file (or
   * has failed to get there), and tells whether the newest is. Writes asked
   * for after the call are not waited for.
   *
   * @returns A promise that resolves when the writer is idle with the newest
   * data in place. An older write that failed, then overtaken by a newer one
   * that succeeded, is reported only to its own `write()` callers.
   * @throws {AtomicWriteError} If the newest write failed: the file then holds
   * older data (or nothing).
   * @throws {TypeError} If the newest `write()` was given data of the wrong
   * type.
   *
   * @example Usage
   * ```ts
   * import { AtomicWriter } from "@x/atomic";
   *
   * const dir = await Deno.makeTempDir();
   * const writer = new AtomicWriter(`${dir}/log.json`);
   * void writer.write("[]");
   * await writer.flush();
   * ```
   */
  async flush(): Promise<void> {
    // The write that carries the newest data so far: later writes, which
    // may keep coming, are not waited for.
    const newest = this.#pending ?? this.#current;
    const refused = this.#refused;
    let failure = this.#failure;
    if (newest !== null) {
      failure = await newest.done.promise.then(() => null, (error) => ({
        error,
      }));
    }
    if (refused) throw refused.error;
    if (failure) throw failure.error;
  }

  static {
    provideContentWrite((writer, content) => writer.#enqueue(content));
  }

  #start(batch: Batch): void {
    this.#current = batch;
    const { ticket, content } = batch;
    const write = writeInTurn(ticket, this.path, content, this.#options);
    write.then(batch.done.resolve, batch.done.reject);
    this.#running = write.then(
      () => this.#next(null),
      (error) => this.#next({ error }),
    );
  }

  #next(failure: { error: unknown } | null): void {
    this.#failure = failure;
    const pending = this.#pending;
    this.#pending = null;
    this.#running = null;
    this.#current = null;
    if (pending) this.#start(pending);
  }
}
