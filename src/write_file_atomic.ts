/** Replacing a file's content atomically. */
import type { AtomicOptions } from "./atomic_options.ts";
import { AtomicFileHandle } from "./_atomic_file.ts";
import { type Context, currentContext, startReplacement } from "./_context.ts";
import { settleInTurn, takeTicket } from "./_path_queue.ts";
import { replace, type Replacement } from "./_replace.ts";
import { runAsync } from "./_run.ts";
import { resolveOptions, toAbsolutePath, toBytes } from "./_validate.ts";

/** Everything {@linkcode writeFileAtomic} accepts as content. */
export type AtomicData =
  | string
  | Uint8Array
  | ReadableStream<Uint8Array>
  | Iterable<string | Uint8Array>
  | AsyncIterable<string | Uint8Array>;

type Source = Iterable<unknown> | AsyncIterable<unknown>;

function toSource(data: unknown): Source {
  if (
    data !== null && typeof data === "object" &&
    (Symbol.asyncIterator in data || Symbol.iterator in data)
  ) {
    return data as Source;
  }
  toBytes(data); // throws the TypeError naming what was given
  throw new TypeError("Cannot write data");
}

async function writeSource(
  s: Replacement,
  context: Context,
  source: Source,
): Promise<void> {
  const file = await AtomicFileHandle.open(s, context);
  try {
    for await (const chunk of source) await file.write(chunk as Uint8Array);
  } catch (error) {
    await file.abort();
    throw error;
  }
  await file.commit();
}

/**
 * Replaces the content of `path` with `data` atomically and (by default)
 * durably: readers see the old file or the new one, never a mix, and after a
 * crash or power cut one of the two is there. Calls for the same path settle
 * in call order and the last call's data wins.
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
  const bytes = typeof data === "string" || data instanceof Uint8Array
    ? toBytes(data)
    : null;
  const source = bytes === null ? toSource(data) : null;
  resolved.signal?.throwIfAborted();
  const context = currentContext();
  const s = startReplacement(context, target, resolved);
  s.ticket = takeTicket(target);
  const work = source === null
    ? runAsync(replace(s, bytes as Uint8Array), context.async)
    : writeSource(s, context, source);
  await settleInTurn(s.ticket, work);
}
