/**
 * What the library's asynchronous opens do where the descriptor table is
 * full (`EMFILE`) only for a moment, by descriptors of its own on their way
 * out: they wait for one to go, and try again. On every runtime.
 *
 * A burst of updates holds, at its peak, one descriptor an update (the lock
 * holder's own file while the lock is made, then the temporary file), their
 * directory, and, for a moment, one more here and there: the file read under
 * the lock, opened while the lock's file is being closed, and closed behind
 * the answer while the temporary file is created; on Deno also the
 * duplicates its `node:fs` makes for the read's `fstat` and `read` and for an
 * fsync (`_deno_duplicates.ts`). Under `ulimit -n 1024`, 1,000 updates of
 * as many files at once leave one descriptor free (Node and Deno hold 22 of
 * their own: 22 + 1,000 + the directory), and the moments of one more took
 * it and failed: without this, of 1,000 updates of files that exist, 0 to 2
 * failed with `EMFILE` on Node, 21 to 97 on Deno (whose read takes two
 * duplicates besides its file), none on Bun (which holds 7).
 *
 * The descriptors **passing** through the table are the ones that leave it
 * by themselves, whatever the caller does: a whole-file read's file (from
 * its open until its close is done, `_read_whole.ts`), any descriptor whose
 * close is called, and, on Deno, a duplicate out. An open of the library
 * that fails with `EMFILE` while one is passing waits until one has gone
 * (one waiter woken for each that goes, so that a crowd of waiters makes no
 * crowd of retries), then tries again; where one went while it tried, it
 * tries again at once, if none is passing any more. Where none is passing
 * and none went the table is full without them, and `EMFILE` stands at once: a process whose table is full of its
 * own files, or of the library's files held for longer (a temporary file
 * its caller still writes, a lock and its queue ticket, which go only when
 * the caller or another process says), gets `EMFILE` as before, never a
 * wait that may not end. An open that fails otherwise, or one that
 * succeeds, costs nothing more: a counter and a closure.
 *
 * @module
 */
import fs from "node:fs";
import type { Pair, Twin } from "./_op_table.ts";

/** A callback-style call's end: its error or its value. */
type Done<T> = (error: Error | null, value: T) => void;

/** The library's descriptors passing now, and how many have gone so far. */
const passing = { now: 0, gone: 0 };

/** The opens waiting for one to go, oldest first. */
const waiting: (() => void)[] = [];

/**
 * `start()`, a call that makes a descriptor pass (or may: an open on the
 * way), counted from now on; not where it throws before it starts (bad
 * arguments), which would leave waiters waiting for a descriptor never made.
 */
function counted<T>(start: () => T): T {
  passing.now++;
  try {
    return start();
  } catch (error) {
    left(false);
    throw error;
  }
}

/**
 * One passing descriptor is no more: gone (`freed`: its close, or its
 * duplicate's, is done), or never there (its open failed). A descriptor
 * gone wakes the oldest waiter; none passing any more wakes them all, to
 * try once more or give up.
 */
function left(freed: boolean): void {
  passing.now--;
  if (freed) {
    passing.gone++;
    waiting.shift()?.();
  }
  if (passing.now === 0) { for (const wake of waiting.splice(0)) wake(); }
}

const wentAway = (): void => left(true);

/**
 * After an open that failed with `EMFILE`, begun when `before` descriptors
 * had gone: `retry` once one has gone since (at once if one went while it
 * tried and none is passing any more), or `stand` where none is passing
 * and none went.
 */
function afterFull(before: number, retry: () => void, stand: () => void): void {
  if (passing.now > 0) {
    waiting.push(() =>
      passing.gone !== before ? retry() : afterFull(before, retry, stand)
    );
  } else if (passing.gone !== before) retry();
  else stand();
}

/**
 * Makes the callback-style open `open`, which gives `done` what it opened,
 * again where it fails with `EMFILE` while a descriptor of the library is
 * passing (see the module doc).
 */
export function withRoom<T>(
  open: (done: Done<T>) => void,
  done: Done<T>,
): void {
  const attempt = (): void => {
    const before = passing.gone;
    open((error, value) => {
      if ((error as { code?: unknown } | null)?.code !== "EMFILE") {
        return done(error, value);
      }
      afterFull(before, attempt, () => done(error, value));
    });
  };
  attempt();
}

/**
 * `fs.open(path, flags)` of a file the caller reads and closes at once
 * (with {@linkcode closePassing}): passing from now on, and made again as
 * {@linkcode withRoom} says.
 */
export function openPassing(
  path: string,
  flags: number,
  done: Done<number>,
): void {
  withRoom((opened: Done<number>) => {
    counted(() =>
      fs.open(path, flags, (error, fd) => {
        if (error) left(false);
        opened(error, fd);
      })
    );
  }, done);
}

/** Closes `fd`, opened by {@linkcode openPassing}: gone once its close is done. */
export function closePassing(
  fd: number,
  done: (error: Error | null) => void,
): void {
  fs.close(fd, (error) => {
    wentAway();
    done(error);
  });
}

/**
 * `fs.close(fd)` of any descriptor of the library: passing from the call,
 * gone once it is done.
 */
export function closing(fd: number, done: (error: Error | null) => void): void {
  counted(() => closePassing(fd, done));
}

/**
 * `twin` whose asynchronous calls each hold a descriptor passing while
 * they run (Deno's duplicate for a call on a descriptor, made at the call
 * and closed when it settles).
 */
export function lending<A extends unknown[], R>(
  twin: Twin<A, R>,
): Twin<A, R> {
  const { sync, async: start } = twin as unknown as Pair;
  const lent: Pair = {
    sync,
    async: (a, b, c, d) => {
      const call = counted(() => start(a, b, c, d));
      call.then(wentAway, wentAway);
      return call;
    },
  };
  return lent as unknown as Twin<A, R>;
}
