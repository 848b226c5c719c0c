/** Replacing a whole file in its turn among the writes to its path. */
import { AtomicFileHandle } from "./_atomic_file.ts";
import { type Context, currentContext, startReplacement } from "./_context.ts";
import { settleInTurn, type Ticket } from "./_path_queue.ts";
import { orDiscard, type Replacement, writeAll } from "./_replace.ts";
import { commitInTurn, prepareAsync } from "./_async_phases.ts";
import { runAsync, untilAborted } from "./_run.ts";
import type { ResolvedOptions } from "./_validate.ts";

/** What a whole-file write takes: bytes, or chunks pulled one by one. */
export type Content = Uint8Array | Iterable<unknown> | AsyncIterable<unknown>;

/**
 * The chunks of `source`, each awaited only until `signal` aborts: a source
 * that stalls (a stream that never ends) must not hold the write, nor every
 * later write of its path waiting for its turn, past an abort. No chunk is
 * asked for once the signal has aborted. The source is then told to stop,
 * without waiting for it to (a stalled one may never answer): a
 * `ReadableStream` is cancelled with the reason at once; any other
 * iterable is asked to `return`, which a stalled one may only take once its
 * pending chunk comes.
 */
async function* pulled(
  source: Iterable<unknown> | AsyncIterable<unknown>,
  signal: AbortSignal | undefined,
): AsyncGenerator<unknown, void, undefined> {
  if (signal === undefined) return yield* source;
  if (source instanceof ReadableStream) {
    return yield* pulledFrom(source, signal);
  }
  const iterator = Symbol.asyncIterator in source
    ? source[Symbol.asyncIterator]()
    : source[Symbol.iterator]();
  let done = false;
  try {
    for (;;) {
      signal.throwIfAborted();
      const next = await untilAborted(Promise.resolve(iterator.next()), signal);
      if (next.done) return void (done = true);
      // A synchronous source's chunks may be promises, as `for await` takes them.
      yield await untilAborted(Promise.resolve(next.value), signal);
    }
  } finally {
    if (!done) {
      Promise.resolve(iterator.return?.()).catch(() => {});
    }
  }
}

/** The chunks of `stream`, as {@linkcode pulled}: cancelled at an abort. */
async function* pulledFrom(
  stream: ReadableStream<unknown>,
  signal: AbortSignal,
): AsyncGenerator<unknown, void, undefined> {
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      signal.throwIfAborted();
      const next = await untilAborted(reader.read(), signal);
      if (next.done) return void (done = true);
      yield next.value;
    }
  } finally {
    // A pending read ends (done) as the stream is cancelled.
    if (!done) reader.cancel(signal.reason).catch(() => {});
    else reader.releaseLock();
  }
}

async function writeChunks(
  s: Replacement,
  context: Context,
  chunks: Iterable<unknown> | AsyncIterable<unknown>,
): Promise<void> {
  const file = await AtomicFileHandle.open(s, context);
  try {
    for await (const chunk of pulled(chunks, s.options.signal)) {
      await file.write(chunk as Uint8Array);
    }
  } catch (error) {
    await file.abort();
    throw error;
  }
  await file.commit();
}

async function write(
  ticket: Ticket,
  target: string,
  content: Content,
  options: ResolvedOptions,
  context: Context,
): Promise<void> {
  const s = startReplacement(context, target, options);
  s.ticket = ticket;
  if (content instanceof Uint8Array) {
    await prepareAsync(s, context.async);
    await runAsync(orDiscard(s, writeAll(s, content)), context.async);
    await commitInTurn(s, context.async);
  } else {
    await writeChunks(s, context, content);
  }
}

/**
 * Replaces `target` with `content`: the temporary file is made and filled at
 * once, but renamed and settled in `ticket`'s turn (after every write to the
 * path that took its ticket before), with `context`'s operations.
 */
export function writeInTurn(
  ticket: Ticket,
  target: string,
  content: Content,
  options: ResolvedOptions,
  context: Context = currentContext(),
): Promise<void> {
  return settleInTurn(
    ticket,
    write(ticket, target, content, options, context),
  );
}
