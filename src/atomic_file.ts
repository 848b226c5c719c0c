/** The handle {@linkcode openAtomic} returns. */
import type { AtomicChunk } from "./write_file_atomic.ts";

/**
 * A file being written atomically. Nothing written is visible at
 * {@linkcode AtomicFile.path} until {@linkcode AtomicFile.commit} resolves;
 * leaving its scope without committing discards it (a commit asked for is
 * waited for, not stopped: only `abort()` stops one). The temporary file exists
 * (in the target's directory) from the moment `openAtomic()` resolves.
 *
 * Writes are buffered (up to 64 KiB) and written in order; a write that fails
 * makes every later call reject with that failure, after the temporary file
 * has been removed.
 *
 * @example Usage
 * ```ts
 * import { openAtomic } from "@x/atomic";
 *
 * const dir = await Deno.makeTempDir();
 * await using file = await openAtomic(`${dir}/out.txt`);
 * await file.write("hello ");
 * await file.write(new TextEncoder().encode("world\n"));
 * await file.commit();
 * ```
 */
export interface AtomicFile extends AsyncDisposable {
  /** The absolute path of the file this replaces (as given, before following links). */
  readonly path: string;
  /**
   * A stream into the file: closing it commits, aborting it discards. It
   * takes what {@linkcode AtomicFile.write} takes (strings in the
   * `encoding` option), so a stream of strings can be piped to it too.
   *
   * @example Usage
   * ```ts
   * import { openAtomic } from "@x/atomic";
   *
   * const dir = await Deno.makeTempDir();
   * await using file = await openAtomic(`${dir}/copy.txt`);
   * await ReadableStream.from([new TextEncoder().encode("streamed")]).pipeTo(file.writable);
   * ```
   */
  readonly writable: WritableStream<AtomicChunk>;
  /**
   * Appends `chunk` (strings in the `encoding` option, UTF-8 by default).
   *
   * @param chunk The data to append.
   * @returns A promise that resolves once the chunk is accepted.
   * @throws {TypeError} If `chunk` is not a string, an `ArrayBufferView` or an `ArrayBuffer`.
   * @throws {AtomicWriteError} If writing failed (for example `ENOSPC`), or the file was already committed (`EBADF`) or aborted (`ECANCELED`).
   *
   * @example Usage
   * ```ts
   * import { openAtomic } from "@x/atomic";
   *
   * const dir = await Deno.makeTempDir();
   * await openAtomic(`${dir}/lines.txt`, async (file) => {
   *   for (const line of ["a", "b"]) await file.write(line + "\n");
   * });
   * ```
   */
  write(chunk: AtomicChunk): Promise<void>;
  /**
   * Makes the written content the file at {@linkcode AtomicFile.path}:
   * flushes, fsyncs (unless `fsync: false`), renames over the target and
   * fsyncs the directory. Calling it again returns the same promise. The
   * handle takes its place among the writes to the path when `commit()` is
   * called: it renames after every earlier call has.
   *
   * @returns A promise that resolves when the new content is in place (and durable).
   * @throws {AtomicWriteError} If any step fails; the target is then unchanged and the temporary file removed, unless only the final directory fsync failed (`committed` is then true). With `ECANCELED` if {@linkcode AtomicFile.abort} stopped it before the rename.
   *
   * @example Usage
   * ```ts
   * import { openAtomic } from "@x/atomic";
   *
   * const dir = await Deno.makeTempDir();
   * const file = await openAtomic(`${dir}/state.json`);
   * await file.write("{}");
   * await file.commit();
   * ```
   */
  commit(): Promise<void>;
  /**
   * Discards the file: removes the temporary file and leaves the target as
   * it was. Called after {@linkcode AtomicFile.commit}, it still discards if
   * the rename has not been asked for yet (the commit waits for its turn
   * behind an earlier write to the path, or fsyncs): `commit()` then rejects
   * with `ECANCELED`. Once the rename is asked for, it changes nothing and
   * waits for the commit. Safe to call more than once.
   *
   * @returns A promise that resolves when the temporary file is gone, or
   * the commit has settled.
   *
   * @example Usage
   * ```ts
   * import { openAtomic } from "@x/atomic";
   *
   * const dir = await Deno.makeTempDir();
   * const file = await openAtomic(`${dir}/draft.txt`);
   * await file.write("never mind");
   * await file.abort();
   * ```
   */
  abort(): Promise<void>;
}
