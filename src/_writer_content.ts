/**
 * Content of any kind (bytes, or chunks pulled one by one) through an
 * {@linkcode AtomicWriter}'s line, coalesced like its whole data: what
 * steno's `Writer` needs for the iterables steno's `fs.writeFile` takes,
 * which `AtomicWriter.write()` does not take publicly. The writer hands the
 * way in over when its class is defined (a class's `#private` members are
 * reachable only from its own body).
 */
import type { AtomicWriter } from "./atomic_writer.ts";
import type { Content } from "./_write_in_turn.ts";

/** Queues `content` in `writer`'s line, as `AtomicWriter.write()` queues bytes. */
export type ContentWrite = (
  writer: AtomicWriter,
  content: Content,
) => Promise<void>;

let enqueue: ContentWrite | undefined;

/** Called once, by the `AtomicWriter` class as it is defined. */
export function provideContentWrite(write: ContentWrite): void {
  enqueue = write;
}

/**
 * Queues `content` in `writer`'s line: it replaces any data still waiting
 * there, and the promise resolves once data at least as new is in place.
 * An iterable is pulled only if it is still the newest when its turn comes.
 */
export function writeContent(
  writer: AtomicWriter,
  content: Content,
): Promise<void> {
  return (enqueue as ContentWrite)(writer, content);
}
