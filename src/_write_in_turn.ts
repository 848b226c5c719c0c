/** Replacing a whole file in its turn among the writes to its path. */
import { AtomicFileHandle } from "./_atomic_file.ts";
import { type Context, currentContext, startReplacement } from "./_context.ts";
import { settleInTurn, type Ticket } from "./_path_queue.ts";
import { orDiscard, type Replacement, writeAll } from "./_replace.ts";
import { commitInTurn, prepareAsync } from "./_async_phases.ts";
import { keepingAlive, runAsync, untilAborted } from "./_run.ts";
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
  // One timer keeps the process alive for the whole stream (see
  // `untilAborted`), not one per chunk.
  const stop = keepingAlive();
  try {
    return yield* source instanceof ReadableStream
      ? pulledFrom(source, signal)
      : pulledFromIterable(source, signal);
  } finally {
    stop();
  }
}

/** The chunks of `source`, as {@linkcode pulled}: the iterator asked to return at an abort. */
async function* pulledFromIterable(
  source: Iterable<unknown> | AsyncIterable<unknown>,
  signal: AbortSignal,
): AsyncGenerator<unknown, void, undefined> {
  const iterator = Symbol.asyncIterator in source
    ? source[Symbol.asyncIterator]()
    : source[Symbol.iterator]();
  let done = false;
  try {
    for (;;) {
      signal.throwIfAborted();
      const next = await chunkOf(Promise.resolve(iterator.next()), signal);
      if (next.done) return void (done = true);
      // A synchronous source's chunks may be promises, as `for await` takes them.
      yield await chunkOf(Promise.resolve(next.value), signal);
    }
  } finally {
    if (!done) {
      try {
        destroyQuietly(source);
        Promise.resolve(iterator.return?.()).catch(() => {});
      } catch {
        // A `return()` that throws changes nothing: the write has failed
        // (or was aborted) already, and says why.
      }
    }
  }
}

/**
 * Destroys `source` without an error if it is a Node stream (it has
 * `destroy()` and `destroyed`) not destroyed yet: its iterator's `return()`
 * would destroy it with an `AbortError`, with which Deno's child-process
 * pipes reject a promise no one can catch (the process dies of it). Node
 * and Bun end it alike either way.
 */
function destroyQuietly(source: unknown): void {
  const stream = source as { destroy?: unknown; destroyed?: unknown };
  if (typeof stream.destroy !== "function" || stream.destroyed !== false) {
    return;
  }
  try {
    (stream.destroy as () => void).call(stream);
  } catch {
    // A `destroy()` that throws changes nothing: the write has failed (or
    // was aborted) already, and says why.
  }
}

/** A chunk, awaited until `signal` aborts (the stream keeps the process alive). */
function chunkOf<T>(chunk: Promise<T>, signal: AbortSignal): Promise<T> {
  return untilAborted(chunk, signal, undefined, false);
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
      const next = await chunkOf(reader.read(), signal);
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
  // Ends a wait for a chunk when the write fails, as an abort does: a
  // source that never gives its first chunk would otherwise keep the
  // process alive (the signal's timer) and a stream uncancelled.
  const failed = new AbortController();
  const signal = s.options.signal;
  const source = pulled(
    chunks,
    signal && AbortSignal.any([signal, failed.signal]),
  );
  const stop = (error: unknown) => {
    failed.abort(error);
    destroyQuietly(chunks);
    source.return(undefined).catch(() => {});
  };
  // The first chunk is asked for while the temporary file is made, so the
  // source is listened to from the call on: a Node stream that fails before
  // its first read (a file that is missing) rejects the write, instead of
  // emitting an 'error' nobody listens to, which ends the process.
  const first = source.next();
  first.catch(() => {}); // awaited below, unless the file cannot be made
  let file: AtomicFileHandle;
  try {
    file = await AtomicFileHandle.open(s, context);
  } catch (error) {
    // Ends the source: a Node stream at once, a stream read with a signal
    // too (cancelled), any other once its pending first chunk comes (a
    // source that never gives one, read without a signal, keeps that one
    // read pending, and nothing else: the write has failed).
    stop(error);
    throw error;
  }
  try {
    for (let next = await first; !next.done; next = await source.next()) {
      await file.write(next.value as Uint8Array);
    }
  } catch (error) {
    stop(error);
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
    options.signal,
  );
}
