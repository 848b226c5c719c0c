/**
 * Early wake-ups for asynchronous lock waiters: a change to the lock file
 * itself (its holder removing the lock's name) ends the wait at once instead
 * of at the next poll. `node:fs.watch` works on Deno, Bun and Node (inotify
 * on Linux, FSEvents/kqueue on macOS, ReadDirectoryChangesW on Windows).
 *
 * A waiter watches the lock *file* (its inode), not the directory. Measured
 * with 6 Node processes updating one 1 KiB file on 2 cores: a directory
 * watch woke every waiter for every entry an update touches (the holder's
 * temporary file, its writes, the rename, the holders' own names: ~10 events
 * per update), and each wake-up cost the process a read of the inotify
 * descriptor and a JavaScript call even when the name was filtered out; the
 * waiters then spent 7-10 ms of CPU per update against 2.2-2.8 ms for the
 * update itself, and 6 processes managed 0.31-0.56x the rate of one. On the
 * lock file only its release (the unlink changes its link count:
 * `IN_ATTRIB`), its heartbeat and the record written as it is taken are
 * seen.
 *
 * Where a watch cannot be made (too many watches, a file system that does not
 * support them) the wait is a plain sleep and the waiter polls; where a watch
 * is made but reports nothing (some network file systems) the waiter's own
 * timer still ends the wait.
 */
import fs from "node:fs";
import { clearTimer, setTimer } from "../_clock.ts";

/** How a wait on a lock file ended. */
export type Wake =
  /** The file changed: its name was removed, or it was touched or written. */
  | "changed"
  /** The file was already gone when the watch was made: try again at once. */
  | "missing"
  /** Nothing happened within the time given. */
  | "timeout"
  /** No watch could be made: this was a plain sleep. */
  | "unwatched";

/** One wait on a file. */
export interface FileWatch {
  /** Resolves when the file changes, or after the time given at the latest. */
  readonly done: Promise<Wake>;
  /** Stops watching and ends the wait (as `"timeout"` if not ended yet). */
  close(): void;
}

/**
 * Starts watching a file: calls `changed` when it changes and `failed` when
 * the watch fails (at once or later); returns the function that stops it.
 * May throw instead of calling `failed` at once.
 */
export type StartWatch = (
  changed: () => void,
  failed: (missing: boolean) => void,
) => () => void;

/**
 * A wait of up to `ms` milliseconds on the watch `start` makes, as a
 * {@linkcode FileWatch}; each runtime brings how to watch (`watchFile` here
 * for `node:fs`, `_watch_deno.ts` for Deno's own watcher).
 */
export function waitWith(
  start: StartWatch,
  ms: number,
  isMissing: (error: unknown) => boolean,
): FileWatch {
  let end: (wake: Wake) => void = () => {};
  const done = new Promise<Wake>((resolve) => end = resolve);
  let stop: (() => void) | null = null;
  let unwatched = false;
  const timer = setTimer(
    () => finish(unwatched ? "unwatched" : "timeout"),
    ms,
  );
  function unwatch(): void {
    const s = stop;
    stop = null;
    s?.();
  }
  function finish(wake: Wake): void {
    clearTimer(timer);
    unwatch();
    end(wake);
  }
  function failed(missing: boolean): void {
    if (missing) finish("missing");
    else {
      unwatched = true; // sleep out the rest of the time
      unwatch();
    }
  }
  try {
    stop = start(() => finish("changed"), failed);
  } catch (error) {
    failed(isMissing(error));
  }
  return { done, close: () => finish("timeout") };
}

function isEnoent(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ENOENT";
}

/**
 * Waits up to `ms` milliseconds for the file at `path` to change; never
 * throws. The watch follows the file the path names when it is made: a lock
 * taken again under the same name is a new file and needs a new watch.
 */
export function watchFile(path: string, ms: number): FileWatch {
  return waitWith(
    (changed, failed) => {
      const watcher = fs.watch(path, { persistent: false }, changed);
      // node:fs.watch on Deno reports a missing file as an error event.
      watcher.on("error", (error) => failed(isEnoent(error)));
      return () => watcher.close();
    },
    ms,
    isEnoent,
  );
}
