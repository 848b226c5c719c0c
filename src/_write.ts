/**
 * One whole-file replacement once the arguments are checked: what
 * {@linkcode writeFileAtomic}, {@linkcode writeFileAtomicSync} and the
 * compat entry points (which set options the public API does not have) run.
 * A compat entry point may also pass the context to run in: the adapter's
 * operations wrapped (atomically's shim retries some of them), its state
 * shared.
 */
import { type Context, currentContext, startReplacement } from "./_context.ts";
import { takeTicket, type Ticket } from "./_path_queue.ts";
import { replace } from "./_replace.ts";
import { runSync } from "./_run.ts";
import { type Content, writeInTurn } from "./_write_in_turn.ts";
import {
  concatBytes,
  isWhole,
  type ResolvedOptions,
  toBytes,
} from "./_validate.ts";

function isIterable(data: unknown): boolean {
  return data !== null && typeof data === "object" &&
    (Symbol.asyncIterator in data || Symbol.iterator in data);
}

/** `data` as one buffer, or the iterable to stream it from (each chunk is encoded when written). */
export function toContent(
  data: unknown,
  options: ResolvedOptions,
): Content {
  if (isWhole(data)) return toBytes(data, "data", options.encoding);
  // An array is all there already: its chunks are checked before any file
  // is touched (another iterable's, only as they come), each converted only
  // as it is written.
  if (Array.isArray(data)) {
    for (const chunk of data) if (!isWhole(chunk)) toBytes(chunk, "chunk");
  }
  if (isIterable(data)) return data as Content;
  return toBytes(data); // throws the TypeError naming what was given
}

/** All chunks of a synchronous iterable, as one buffer. */
function concatSync(
  source: Iterable<unknown>,
  options: ResolvedOptions,
): Uint8Array {
  // Copied: a producer may reuse its buffer for the next chunk.
  return concatBytes(
    Array.from(
      source,
      (chunk) => toBytes(chunk, "chunk", options.encoding).slice(),
    ),
  );
}

/**
 * Replaces `target` (absolute) with `data`; calls for one path settle in
 * call order. The write takes its place in that order now, or in `ticket`'s
 * if given: one a compat entry point took for `target` when it was called,
 * before it waited for the compat write ahead of it. A given ticket is
 * passed on if the write stops before its turn (data refused, signal
 * aborted), so that the writes after it do not wait for it forever.
 */
export async function writeResolved(
  target: string,
  data: unknown,
  options: ResolvedOptions,
  context: Context = currentContext(),
  ticket?: Ticket,
): Promise<void> {
  let content: Content;
  try {
    content = toContent(data, options);
    options.signal?.throwIfAborted();
  } catch (error) {
    ticket?.pass();
    throw error;
  }
  await writeInTurn(
    ticket ?? takeTicket(target),
    target,
    content,
    options,
    context,
  );
}

/** Replaces `target` (absolute) with `data`, blocking; iterables must be synchronous. */
export function writeResolvedSync(
  target: string,
  data: unknown,
  options: ResolvedOptions,
  context: Context = currentContext(),
): void {
  const content = toContent(data, options);
  let bytes: Uint8Array;
  if (content instanceof Uint8Array) {
    bytes = content;
  } else if (Symbol.iterator in content) {
    bytes = concatSync(content, options);
  } else {
    throw new TypeError(
      "Cannot write data synchronously: an async iterable or stream needs writeFileAtomic()",
    );
  }
  options.signal?.throwIfAborted();
  const s = startReplacement(context, target, options);
  runSync(replace(s, bytes), context.adapter.sync);
}
