/** Replacing a file's content atomically. */
import type { AtomicOptions } from "./atomic_options.ts";
import { resolveOptions, toAbsolutePath } from "./_validate.ts";
import { writeResolved } from "./_write.ts";

/** One piece of content: text, or bytes in any binary form. */
export type AtomicChunk = string | ArrayBufferView | ArrayBuffer;

/** Everything {@linkcode writeFileAtomic} accepts as content. */
export type AtomicData =
  | AtomicChunk
  | ReadableStream<Uint8Array>
  | Iterable<AtomicChunk>
  | AsyncIterable<AtomicChunk>;

/**
 * Replaces the content of `path` with `data` atomically and (by default)
 * durably: readers see the old file or the new one, never a mix, and after a
 * crash or power cut one of the two is there. Calls for the same path settle
 * in call order and the last call's data wins, also among
 * {@linkcode AtomicWriter} writes to that path.
 *
 * @param path The file to replace (a string or a `file:` URL).
 * @param data The new content: a string (written in the `encoding` option,
 * UTF-8 by default), any `ArrayBufferView` or `ArrayBuffer`, a
 * `ReadableStream`, or a sync or async iterable of strings and bytes.
 * @param options How to write; see {@linkcode AtomicOptions}.
 * @returns A promise that resolves when the new content is in place.
 * @throws {TypeError} If an argument has the wrong type, an option is unknown, or `path` is empty or contains a NUL byte.
 * @throws {RangeError} If `mode` is not a permission mask (an integer from 0 to 0o7777).
 * @throws {AtomicWriteError} If a file-system step fails (`ENOSPC`, `EACCES`, `EISDIR`, `EEXIST` with `overwrite: false`, …); the target is then unchanged and no temporary file is left, unless only the final directory fsync failed (then `committed` is true: the new content is in place but may not survive a power cut).
 *
 * @example Usage
 * ```ts
 * import { writeFileAtomic } from "@x/atomic";
 *
 * const dir = await Deno.makeTempDir();
 * await writeFileAtomic(`${dir}/state.json`, JSON.stringify({ count: 1 }));
 * ```
 */
export async function writeFileAtomic(
  path: string | URL,
  data: AtomicData,
  options?: AtomicOptions,
): Promise<void> {
  const target = toAbsolutePath(path);
  await writeResolved(target, data, resolveOptions(options));
}
