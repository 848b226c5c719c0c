/**
 * Early wake-ups for asynchronous lock waiters: a change in a directory
 * (the holder removing its lock file) ends the wait at once instead of at
 * the next poll. `node:fs.watch` works on Deno, Bun and Node (inotify on
 * Linux, FSEvents/kqueue on macOS, ReadDirectoryChangesW on Windows); where
 * it fails (too many watches, a network file system that reports nothing),
 * the waiter still polls.
 */
import fs from "node:fs";

/** Wakes a waiter when something changes in one directory. */
export interface DirWatch {
  /** Resolves after `ms` milliseconds, or sooner if the directory changes. */
  next(ms: number): Promise<void>;
  /** Stops watching. */
  close(): void;
}

/**
 * Watches the entry `name` in `dir`; never throws (without a watcher, `next`
 * just sleeps). Changes to other entries do not wake the waiter (an update
 * makes several: its temporary file, the rename), unless the platform does
 * not say which entry changed.
 */
export function watchDir(dir: string, name: string): DirWatch {
  let wake: (() => void) | null = null;
  let changed = false;
  let watcher: fs.FSWatcher | null = null;
  try {
    watcher = fs.watch(dir, { persistent: false }, (_event, changedName) => {
      if (changedName !== null && String(changedName) !== name) return;
      changed = true;
      wake?.();
    });
    watcher.on("error", () => {
      watcher?.close();
      watcher = null;
    });
  } catch { /* poll only */ }
  return {
    next: (ms) => {
      if (changed) {
        changed = false;
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        const timer = setTimeout(done, ms);
        function done(): void {
          clearTimeout(timer);
          wake = null;
          changed = false;
          resolve();
        }
        wake = done;
      });
    },
    close: () => {
      wake?.();
      watcher?.close();
      watcher = null;
    },
  };
}
