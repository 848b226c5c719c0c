/**
 * Atomic, crash-safe file writes with one set of semantics on Deno, Bun and
 * Node: a reader sees the old file or the new one, never a torn, empty or
 * missing one, and after a crash or a power cut one of the two is there.
 *
 * Each write goes to a fresh temporary file in the target's directory, which
 * is written in full, fsynced, renamed over the target, and then the
 * directory is fsynced so that the rename itself is durable. On any error,
 * abort or cancellation the temporary file is removed and the target is left
 * as it was.
 *
 * Limits: the guarantee holds within one file system (the temporary file is
 * always made beside the target, so this is automatic). `fsync: false` keeps
 * the guarantee against process crashes and for concurrent readers, but not
 * against power loss: after a power cut the old content may come back, or on
 * some file systems the file may be found empty or partly written. A
 * `kill -9` can leave a temporary file behind (never a damaged target);
 * {@linkcode removeStaleTemps} sweeps those.
 *
 * @example Usage
 * ```ts
 * import { openAtomic, writeFileAtomic } from "@x/atomic";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/state.json`, JSON.stringify({ ok: true }));
 * await openAtomic(`${dir}/out.txt`, async (file) => {
 *   for (const line of ["a", "b", "c"]) await file.write(line + "\n");
 * });
 * ```
 *
 * @module
 */
export { openAtomic } from "./src/open_atomic.ts";
export type { AtomicFile } from "./src/atomic_file.ts";
export {
  type AtomicChunk,
  type AtomicData,
  writeFileAtomic,
} from "./src/write_file_atomic.ts";
export { writeFileAtomicSync } from "./src/write_file_atomic_sync.ts";
export { AtomicWriter, type AtomicWriterOptions } from "./src/atomic_writer.ts";
export type { AtomicOptions } from "./src/atomic_options.ts";
export {
  AtomicWriteError,
  type AtomicWriteErrorInit,
} from "./src/atomic_write_error.ts";
export {
  makeTempFile,
  makeTempFileSync,
  type MakeTempOptions,
  type TempFile,
} from "./src/make_temp_file.ts";
export {
  removeStaleTemps,
  type RemoveStaleTempsOptions,
  removeStaleTempsSync,
} from "./src/remove_stale_temps.ts";
