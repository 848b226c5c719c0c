/** Replacing a file's content atomically. */
import type { AtomicOptions } from "./atomic_options.ts";
import { AtomicFileHandle } from "./_atomic_file.ts";
import { type Context, currentContext, startReplacement } from "./_context.ts";
import { settleInTurn, takeTicket } from "./_path_queue.ts";
import { fill, type Replacement } from "./_replace.ts";
import { commitInTurn } from "./_commit_in_turn.ts";
import { runAsync } from "./_run.ts";
import { resolveOptions, toAbsolutePath, toBytes } from "./_validate.ts";

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
  const bytes = typeof data === "string" || data instanceof Uint8Array
    ? toBytes(data)
    : null;
  const source = bytes === null ? toSource(data) : null;
  resolved.signal?.throwIfAborted();
  const context = currentContext();
  const s = startReplacement(context, target, resolved);
  s.ticket = takeTicket(target);
  const work = source === null
    ? runAsync(fill(s, bytes as Uint8Array), context.async).then(() =>
      commitInTurn(s, context.async)
    )
    : writeSource(s, context, source);
  await settleInTurn(s.ticket, work);
}
