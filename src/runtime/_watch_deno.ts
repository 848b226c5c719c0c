/**
 * The lock file watch of `_watch.ts` with Deno's own watcher: `node:fs.watch`
 * on Deno is a layer over `Deno.watchFs` that cost about 390 µs of CPU per
 * watch made against about 90 µs for `Deno.watchFs` itself (300 of each,
 * Deno 2.9.6), and a waiter makes one watch per hand-over: with 6 processes
 * on one file, 5 of them per update.
 */
import { type FileWatch, waitWith } from "./_watch.ts";

function isNotFound(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound;
}

/** As `watchFile` of `_watch.ts`, with `Deno.watchFs`. */
export function watchFileDeno(path: string, ms: number): FileWatch {
  return waitWith(
    (changed, failed) => {
      const watcher = Deno.watchFs(path, { recursive: false });
      (async () => {
        try {
          for await (const _ of watcher) return changed();
        } catch (error) {
          failed(isNotFound(error));
        }
      })();
      return () => {
        try {
          watcher.close();
        } catch { /* already closed */ }
      };
    },
    ms,
    isNotFound,
  );
}
