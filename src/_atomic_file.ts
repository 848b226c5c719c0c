/** The implementation behind {@linkcode AtomicFile}. */
import type { AtomicFile } from "./atomic_file.ts";
import type { AtomicChunk } from "./write_file_atomic.ts";
import { AtomicWriteError } from "./atomic_write_error.ts";
import type { Context } from "./_context.ts";
import { settleInTurn, takeTicket } from "./_path_queue.ts";
import { discard, orDiscard, type Replacement, writeAll } from "./_replace.ts";
import { runAsync } from "./_run.ts";
import { commitInTurn, prepareAsync } from "./_async_phases.ts";
import type { Steps } from "./_steps.ts";
import { concatBytes, toBytes } from "./_validate.ts";

/** Small writes are gathered up to this size before they reach the file. */
const BUFFER_BYTES = 64 * 1024;

type Status = "open" | "committing" | "committed" | "aborted" | "failed";

/** The states each state may change to: the table in `AtomicFileHandle`'s comment. */
const NEXT: Readonly<Record<Status, readonly Status[]>> = {
  open: ["committing", "aborted", "failed"],
  committing: ["committed", "aborted", "failed"],
  committed: [],
  aborted: [],
  failed: [],
};

/** Where a handle is in its life. */
interface State {
  readonly status: Status;
  /** For `failed`: the failure every later call rejects with. */
  readonly error?: unknown;
  /** From `committing` on: the promise `commit()` returned. */
  readonly done?: Promise<void> | undefined;
}

function ignore(): void {}

/**
 * An open atomic write, driven step by step by the asynchronous runner.
 *
 * Its state changes only in `#enter()`, and only as this table (`NEXT`)
 * allows; any other change is refused, which is how a late signal or a second
 * `abort()` does nothing:
 *
 * | from         | event                                       | to           |
 * | ------------ | ------------------------------------------- | ------------ |
 * | `open`       | `commit()`                                  | `committing` |
 * | `open`       | `abort()`, or the signal aborts             | `aborted`    |
 * | `open`       | a write fails                               | `failed`     |
 * | `committing` | the commit steps succeed                    | `committed`  |
 * | `committing` | `abort()` stops the steps before the rename | `aborted`    |
 * | `committing` | a commit step fails (the signal included)   | `failed`     |
 *
 * `committed`, `aborted` and `failed` are final: entering one stops
 * listening to the signal, and entering `aborted` from `open` queues the
 * removal of the temporary file (a failed step has removed it already, and
 * so has a commit that `abort()` stopped). Entering `aborted` or `failed`
 * errors {@linkcode writable} once the file is gone; one made later starts
 * errored. Every file step runs in the order it was asked for on one
 * queue; `commit()`'s outcome is kept in the state, so a second call
 * returns the same promise.
 */
export class AtomicFileHandle implements AtomicFile {
  readonly path: string;
  #s: Replacement;
  #context: Context;
  #state: State = { status: "open" };
  /** The file steps asked for so far, run one after another; never rejects. */
  #queue: Promise<void> = Promise.resolve();
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #writable: WritableStream<AtomicChunk> | null = null;
  /** The controller of {@linkcode writable}, once made: errored as the handle is aborted or fails. */
  #controller: WritableStreamDefaultController | null = null;
  #onAbort: (() => void) | null = null;
  /** The caller's signal (the commit's steps look at one that `abort()` aborts too). */
  #signal: AbortSignal | undefined;
  /** From `commit()` on: aborted by `abort()`, which then stops the commit before its rename. */
  #cancel: AbortController | null = null;
  #ended = Promise.withResolvers<void>();

  /** Creates the temporary file and returns the handle for it. */
  static async open(
    s: Replacement,
    context: Context,
  ): Promise<AtomicFileHandle> {
    await prepareAsync(s, context.async);
    const file = new AtomicFileHandle(s, context);
    // The signal may have aborted since the last step looked at it (its
    // event fired before the handle listened): the file goes, and the
    // call rejects with the reason, as during the steps.
    if (file.aborted) {
      await file.abort();
      throw s.options.signal?.reason;
    }
    return file;
  }

  private constructor(s: Replacement, context: Context) {
    this.path = s.target;
    this.#s = s;
    this.#context = context;
    const signal = this.#signal = s.options.signal;
    if (signal?.aborted) this.#abort();
    else if (signal) {
      this.#onAbort = () => this.#abort();
      signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  /** Whether `abort()` (or the signal) ended the handle. */
  get aborted(): boolean {
    return this.#state.status === "aborted";
  }

  /**
   * Whether the handle ended with the target left as it was: aborted, or
   * failed before its rename.
   */
  get discarded(): boolean {
    const { status, error } = this.#state;
    return status === "aborted" ||
      (status === "failed" &&
        !(error instanceof AtomicWriteError && error.committed));
  }

  /** Resolves once the handle is in a final state: committed, aborted or failed. */
  get ended(): Promise<void> {
    return this.#ended.promise;
  }

  get writable(): WritableStream<AtomicChunk> {
    return this.#writable ??= new WritableStream<AtomicChunk>({
      start: (controller) => {
        this.#controller = controller;
        // Made after the end: it starts errored, as one made before is.
        if (this.#state.status !== "open") this.#errorWritable();
      },
      // A write that fails errors the stream, which never calls `abort`:
      // the file is discarded here, so no later commit() publishes a part.
      // The stream keeps the write's error (not the abort's), and fails
      // its pipe once the write has settled, with the file gone.
      write: (chunk, controller) =>
        this.write(chunk).catch(async (error) => {
          controller.error(error);
          this.#abort();
          await this.#discarded();
          throw error;
        }),
      close: () => this.commit(),
      abort: () => {
        this.#abort();
        return this.#discarded();
      },
    });
  }

  write(chunk: AtomicChunk): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = toBytes(chunk, "chunk", this.#s.options.encoding);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#state.status !== "open") return this.#refused("write");
    // Nothing to write, nor to keep: a million empty chunks cost no memory.
    if (bytes.length === 0) return Promise.resolve();
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
    if (this.#state.done) return this.#state.done;
    if (this.#state.status !== "open") return this.#refused("commit");
    const s = this.#s;
    // The handle's place among writes to the path: kept from the call that
    // began it (writeFileAtomic with a stream), which settles in its turn,
    // else taken now, at commit.
    const began = s.ticket !== null;
    const ticket = s.ticket ??= takeTicket(s.target);
    this.#flush();
    // The commit's steps stop, as at the caller's signal, at an abort()
    // that comes before the rename (their last look at the signal is just
    // before it is asked for); one that comes later waits for the commit.
    // (A handle of writeFileAtomic's, which began with its ticket, is
    // nobody else's to abort.)
    if (!began) {
      const cancel = this.#cancel = new AbortController();
      s.options = {
        ...s.options,
        signal: this.#signal
          ? AbortSignal.any([this.#signal, cancel.signal])
          : cancel.signal,
      };
    }
    const steps = this.#then(
      () => commitInTurn(s, this.#context.async),
      "commit",
    );
    const committed = steps.then(() => void this.#enter("committed"));
    const done = began
      ? committed
      : settleInTurn(ticket, committed, s.options.signal);
    this.#enter("committing", { done });
    return done;
  }

  abort(): Promise<void> {
    if (this.#state.status === "committing") {
      // Stops the commit before its rename, as the signal does; it rejects
      // with ECANCELED. Once the rename is asked for, the commit goes on.
      this.#cancel?.abort(this.#unusable("commit", "aborted"));
    } else this.#abort();
    return this.#discarded();
  }

  /** Settles once the steps queued so far (the removal of an aborted file) have run. */
  #discarded(): Promise<void> {
    return (this.#state.done ?? this.#queue).then(ignore, ignore);
  }

  /**
   * Errors {@linkcode writable}, if made, with why the handle cannot be
   * written (the signal's reason, the failure, `ECANCELED` or `EBADF`), once
   * the temporary file is gone: a `pipeTo` into it from a source that has
   * gone quiet then rejects instead of waiting for good, and only when the
   * file is gone.
   */
  #errorWritable(): void {
    const controller = this.#controller;
    if (controller === null) return;
    void this.#discarded().then(() => controller.error(this.#unusable()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    // Leaving the scope discards a file never committed; a commit asked for
    // goes on, and is waited for (only `abort()` stops one).
    if (this.#state.status === "committing") return this.#discarded();
    return this.abort();
  }

  /**
   * Changes the state to `status` if {@linkcode NEXT} allows it; the only
   * place the state changes. Entering a final state drops buffered chunks and
   * stops listening to the signal. Returns whether the state changed.
   */
  #enter(
    status: Status,
    change: { error?: unknown; done?: Promise<void> } = {},
  ): boolean {
    if (!NEXT[this.#state.status].includes(status)) return false;
    const done = change.done ?? this.#state.done;
    this.#state = { status, error: change.error, done };
    if (NEXT[status].length === 0) {
      this.#chunks = [];
      this.#buffered = 0;
      if (this.#onAbort) {
        this.#signal?.removeEventListener("abort", this.#onAbort);
        this.#onAbort = null;
      }
      if (status !== "committed") this.#errorWritable();
      this.#ended.resolve();
    }
    return true;
  }

  /**
   * Aborts an open handle: the temporary file goes after the steps queued
   * before. Returns whether it was open.
   */
  #abort(): boolean {
    // A committing handle is aborted only by its commit's failure at
    // `abort()` (see `#then`): the signal stops the commit's steps itself,
    // and one that aborts after the rename was asked for changes nothing.
    if (this.#state.status !== "open" || !this.#enter("aborted")) return false;
    this.#queue = this.#queue.then(() =>
      runAsync(discard(this.#s), this.#context.async)
    );
    return true;
  }

  #flush(): Promise<void> {
    if (this.#buffered === 0) return this.#queue;
    const bytes = concatBytes(this.#chunks);
    this.#chunks = [];
    this.#buffered = 0;
    return this.#run(() => writeAll(this.#s, bytes));
  }

  /**
   * Queues `steps` after everything queued before; a failure discards the
   * file and fails the handle. Steps that were running when the handle was
   * aborted (a long write) reject as it, once the file is gone.
   */
  #run(steps: () => Steps<void>): Promise<void> {
    const result = this.#then(async () => {
      await runAsync(orDiscard(this.#s, steps()), this.#context.async);
      if (this.#state.status === "aborted") throw this.#unusable();
    });
    // Settled once what was queued meanwhile (the removal) has run. A flush
    // nobody awaits (at commit) fails the handle: its own outcome is told
    // there, not as an unhandled rejection.
    const settled = result.catch((error) =>
      this.#queue.then(() => Promise.reject(error))
    );
    settled.catch(ignore);
    return settled;
  }

  /**
   * Rejects as an unusable handle, once everything queued before has
   * settled: an aborted handle's temporary file is then gone.
   */
  #refused(operation: "write" | "commit"): Promise<never> {
    return this.#queue.then(() => Promise.reject(this.#unusable(operation)));
  }

  /**
   * Queues `work` (which discards the file if it fails) after everything
   * queued before; `operation` names it in the error of a handle that ended
   * meanwhile. A failure fails the handle, or aborts it if `abort()` caused
   * it (during the commit).
   */
  #then(
    work: () => Promise<void>,
    operation: "write" | "commit" = "write",
  ): Promise<void> {
    const result = this.#queue.then(() => {
      const { status } = this.#state;
      if (status === "aborted" || status === "failed") {
        throw this.#unusable(operation);
      }
      return work();
    });
    this.#queue = result.then(
      ignore,
      (error) =>
        void this.#enter(
          this.#cancel?.signal.aborted && error === this.#cancel.signal.reason
            ? "aborted"
            : "failed",
          { error },
        ),
    );
    return result;
  }

  /**
   * Why `operation` (a write, by default) cannot go on in `status` (the
   * handle's, by default): the handle's failure, the signal's reason, or its
   * state.
   */
  #unusable(
    operation: "write" | "commit" = "write",
    status: Status = this.#state.status,
  ): unknown {
    if (status === "failed") return this.#state.error;
    const signal = this.#signal;
    if (status === "aborted" && signal?.aborted) return signal.reason;
    const aborted = status === "aborted";
    return new AtomicWriteError({
      code: aborted ? "ECANCELED" : "EBADF",
      operation,
      path: this.#s.target,
      target: this.#s.target,
      reason: aborted
        ? "the file was aborted"
        : "the file was already committed",
    });
  }
}
