/** Replacing a file's content atomically. */
import type { AtomicOptions } from "./atomic_options.ts";
import { takeTicket } from "./_path_queue.ts";
import { resolveOptions, toAbsolutePath, toBytes } from "./_validate.ts";
import { type Content, writeInTurn } from "./_write_in_turn.ts";

/** Everything {@linkcode writeFileAtomic} accepts as content. */
export type AtomicData =
  | string
  | Uint8Array
  | ReadableStream<Uint8Array>
  | Iterable<string | Uint8Array>
  | AsyncIterable<string | Uint8Array>;

/** `data` as content to write, or the TypeError naming what was given. */
function toContent(data: unknown): Content {
  if (typeof data === "string" || data instanceof Uint8Array) {
    return toBytes(data);
  }
  if (
    data !== null && typeof data === "object" &&
    (Symbol.asyncIterator in data || Symbol.iterator in data)
  ) {
    return data as Content;
  }
  toBytes(data); // throws the TypeError naming what was given
  throw new TypeError("Cannot write data");
}

/**
 * Replaces the content of `path` with `data` atomically and (by default)
 * durably: readers see the old file or the new one, never a mix, and after a
 * crash or power cut one of the two is there. Calls for the same path settle
 * in call order and the last call's data wins, also among
 * {@linkcode AtomicWriter} writes to that path.
 *
 * @param path The file to replace (a string or a `file:` URL).
 * @param data The new content: a string (written as UTF-8), bytes, a
 * `ReadableStream`, or a sync or async iterable of strings and bytes.
 * @param options How to write; see {@linkcode AtomicOptions}.
 * @returns A promise that resolves when the new content is in place.
 * @throws {TypeError} If an argument has the wrong type or `path` is empty or contains a NUL byte.
 * @throws {AtomicWriteError} If a file-system step fails (`ENOSPC`, `EACCES`, `EISDIR`, `EEXIST` with `overwrite: false`, …); the target is then unchanged and no temporary file is left.
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
  const resolved = resolveOptions(options);
  const content = toContent(data);
  resolved.signal?.throwIfAborted();
  await writeInTurn(takeTicket(target), target, content, resolved);
}
