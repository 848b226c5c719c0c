/** The implementation behind {@linkcode AtomicFile}. */
import type { AtomicFile } from "./atomic_file.ts";
import { AtomicWriteError } from "./atomic_write_error.ts";
import type { Context } from "./_context.ts";
import { settleInTurn, takeTicket } from "./_path_queue.ts";
import {
  commit,
  discard,
  orDiscard,
  prepare,
  type Replacement,
  writeAll,
} from "./_replace.ts";
import { runAsync } from "./_run.ts";
import type { Steps } from "./_steps.ts";
import { toBytes } from "./_validate.ts";

/** Small writes are gathered up to this size before they reach the file. */
const BUFFER_BYTES = 64 * 1024;

type Status = "open" | "committing" | "committed" | "aborted" | "failed";

function ignore(): void {}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

/** An open atomic write, driven step by step by the asynchronous runner. */
export class AtomicFileHandle implements AtomicFile {
  readonly path: string;
  #s: Replacement;
  #context: Context;
  #status: Status = "open";
  #error: unknown = undefined;
  #chain: Promise<void> = Promise.resolve();
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #committed: Promise<void> | null = null;
  #writable: WritableStream<Uint8Array> | null = null;
  #onAbort: (() => void) | null = null;

  /** Creates the temporary file and returns the handle for it. */
  static async open(
    s: Replacement,
    context: Context,
  ): Promise<AtomicFileHandle> {
    await runAsync(prepare(s), context.async);
    return new AtomicFileHandle(s, context);
  }

  private constructor(s: Replacement, context: Context) {
    this.path = s.target;
    this.#s = s;
    this.#context = context;
    const signal = s.options.signal;
    if (signal) {
      this.#onAbort = () => void this.#stop("aborted", signal.reason);
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /** Whether `abort()` (or the signal) ended the handle. */
  get aborted(): boolean {
    return this.#status === "aborted";
  }

  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= new WritableStream<Uint8Array>({
      write: (chunk) => this.write(chunk),
      close: () => this.commit(),
      abort: () => this.abort(),
    });
  }

  write(chunk: string | Uint8Array): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = toBytes(chunk, "chunk");
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#status !== "open") return Promise.reject(this.#unusable());
    if (bytes.length >= BUFFER_BYTES) {
      this.#flush();
      return this.#run(() => writeAll(this.#s, bytes));
    }
    // Copied: the caller may reuse its buffer as soon as this resolves.
    this.#chunks.push(bytes.slice());
    this.#buffered += bytes.length;
    return this.#buffered >= BUFFER_BYTES ? this.#flush() : Promise.resolve();
  }

  commit(): Promise<void> {
    if (this.#committed) return this.#committed;
    if (this.#status !== "open") return Promise.reject(this.#unusable());
    this.#status = "committing";
    this.#flush();
    const s = this.#s;
    const ownTicket = s.ticket === null
      ? (s.ticket = takeTicket(s.target))
      : null;
    const work = this.#run(() => commit(s)).then(() => {
      this.#status = "committed";
      this.#detach();
    });
    this.#committed = ownTicket ? settleInTurn(ownTicket, work) : work;
    return this.#committed;
  }

  abort(): Promise<void> {
    if (this.#status === "open") {
      this.#stop("aborted", undefined);
    }
    return (this.#committed ?? this.#chain).then(ignore, ignore);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.abort();
  }

  /** Ends the handle without committing: everything queued is skipped, the temporary file removed. */
  #stop(status: "aborted" | "failed", error: unknown): Promise<void> {
    if (this.#status !== "open" && this.#status !== "committing") {
      return this.#chain;
    }
    if (this.#status === "committing" && status === "aborted") {
      return this.#chain; // the commit sees the signal itself
    }
    this.#status = status;
    this.#error = error;
    this.#chunks = [];
    this.#buffered = 0;
    this.#detach();
    this.#chain = this.#chain.then(() =>
      runAsync(discard(this.#s), this.#context.async)
    );
    return this.#chain;
  }

  #detach(): void {
    if (this.#onAbort) {
      this.#s.options.signal?.removeEventListener("abort", this.#onAbort);
      this.#onAbort = null;
    }
  }

  #flush(): Promise<void> {
    if (this.#buffered === 0) return this.#chain;
    const bytes = concat(this.#chunks, this.#buffered);
    this.#chunks = [];
    this.#buffered = 0;
    return this.#run(() => writeAll(this.#s, bytes));
  }

  /** Queues `steps` after everything queued before; a failure discards the file and fails the handle. */
  #run(steps: () => Steps<void>): Promise<void> {
    const result = this.#chain.then(() => {
      if (this.#status === "aborted" || this.#status === "failed") {
        throw this.#unusable();
      }
      return runAsync(orDiscard(this.#s, steps()), this.#context.async);
    });
    this.#chain = result.then(ignore, (error) => {
      if (this.#status === "open" || this.#status === "committing") {
        this.#status = "failed";
        this.#error = error;
        this.#detach();
      }
    });
    return result;
  }

  #unusable(): unknown {
    if (this.#status === "failed") return this.#error;
    const signal = this.#s.options.signal;
    if (this.#status === "aborted" && signal?.aborted) return signal.reason;
    const aborted = this.#status === "aborted";
    return new AtomicWriteError({
      code: aborted ? "ECANCELED" : "EBADF",
      operation: "write",
      path: this.#s.target,
      target: this.#s.target,
      reason: aborted
        ? "the file was aborted"
        : "the file was already committed",
    });
  }
}
