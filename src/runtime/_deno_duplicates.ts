/**
 * The descriptors Deno's `node:fs` takes beyond the files it opens, and how
 * the Deno adapter keeps a burst of writes within the descriptors it needs
 * on Node and Bun: one a temporary file, not two.
 *
 * Deno makes an asynchronous call on a descriptor (all but a regular file's
 * write and its close, which it makes on the calling thread) in its thread
 * pool, on a duplicate of the descriptor (`fcntl(F_DUPFD_CLOEXEC)`), made at
 * the call and closed when it settles: each such call in flight holds one
 * descriptor more. Where the table is full it makes the call on the
 * descriptor itself, taken from its file meanwhile, and a call on this
 * thread then finds the file busy (`Busy`, which the adapter reports as
 * `EMFILE`). Measured under a limit of 64 on Deno 2.9: of 41 writes called
 * in one tick to a file that exists, 4 to 34 failed (each temporary file's
 * chmod goes beside its first write), where none fail on Node and Bun.
 *
 * - {@linkcode onThisThread}: the calls that change an inode already open
 *   (`fchmod`, `fchown`, `futimes`) are made on this thread, as the write
 *   is: they take too little time to be worth a round trip, and no
 *   duplicate, so they are never busy.
 * - An fsync takes its time, and stays in the pool: its duplicate passes
 *   through the table (`lending` in `_full_table.ts`), and an open that
 *   found the table full while one was out tries again once one is back;
 *   `EMFILE` stands only where nothing of the library's was passing.
 *   (Without it, 2 or 3 in 100 such bursts, to a file new or existing, lost
 *   a creation to an fsync's duplicate.) So does the read under a lock:
 *   its `fstat` and first `read`, made at once, hold two duplicates besides
 *   its file (`_read_whole.ts`).
 *
 * @module
 */
import type { Pair, Twin } from "./_op_table.ts";

/**
 * `twin` whose asynchronous form makes its synchronous call, on this
 * thread: it never takes a duplicate, nor finds its file busy.
 */
export function onThisThread<A extends unknown[], R>(
  twin: Twin<A, R>,
): Twin<A, R> {
  return withAsync(twin, ({ sync }) => (a, b, c, d) => {
    try {
      return Promise.resolve(sync(a, b, c, d));
    } catch (error) {
      return Promise.reject(error);
    }
  });
}

/** `twin` with the asynchronous form `make` makes of its two; the synchronous one as it is. */
function withAsync<A extends unknown[], R>(
  twin: Twin<A, R>,
  make: (pair: Pair) => Pair["async"],
): Twin<A, R> {
  const pair = twin as unknown as Pair;
  const made: Pair = { sync: pair.sync, async: make(pair) };
  return made as unknown as Twin<A, R>;
}
