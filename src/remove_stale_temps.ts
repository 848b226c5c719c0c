/** Sweeping the temporary files that crashed writers left behind. */
import { join } from "node:path";
import { currentContext } from "./_context.ts";
import { errorCode } from "./_error_code.ts";
import { runAsync, runSync } from "./_run.ts";
import { perform, request, settle, type Steps } from "./_steps.ts";
import { tempNameOwner } from "./_temp_name.ts";
import { sweepLock } from "./_lock.ts";
import type { RuntimeAdapter } from "./runtime/types.ts";
import { rejectUnknownKeys, toAbsolutePath } from "./_validate.ts";

/**
 * Which temporary files {@linkcode removeStaleTemps} may remove.
 *
 * @example Usage
 * ```ts
 * import { removeStaleTemps, type RemoveStaleTempsOptions } from "@x/atomic";
 *
 * const options: RemoveStaleTempsOptions = { olderThan: 24 * 60 * 60 * 1000 };
 * await removeStaleTemps(await Deno.makeTempDir(), options);
 * ```
 */
export interface RemoveStaleTempsOptions {
  /**
   * Only remove files last modified at least this many milliseconds ago.
   * The process check alone protects writers on this machine; the age
   * protects writers on other machines that share the directory (a network
   * file system), whose process ids mean nothing here. `0` removes every
   * temporary file of a process that is gone.
   *
   * @default {3_600_000 (one hour)}
   */
  olderThan?: number;
}

const DEFAULT_OLDER_THAN_MS = 60 * 60 * 1000;

/** A facility the sweep needs besides the file-system requests. */
type IsAlive = (pid: number) => boolean;

/** A file-system failure of the sweep, naming the operation and the path, keeping the code. */
function sweepError(
  dir: string,
  operation: string,
  path: string,
  cause: unknown,
): Error {
  const code = errorCode(cause) ?? "EIO";
  const what = path === dir
    ? `${operation} failed`
    : `${operation} "${path}" failed`;
  return Object.assign(
    new Error(
      `Cannot remove stale temporary files in "${dir}": ${what} (${code})`,
      { cause },
    ),
    { code },
  );
}

function checkOlderThan(options: unknown): number {
  if (options === undefined) return DEFAULT_OLDER_THAN_MS;
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      "Cannot remove stale temporary files: options must be an object",
    );
  }
  rejectUnknownKeys(options, ["olderThan"]);
  const value = (options as RemoveStaleTempsOptions).olderThan;
  if (value === undefined) return DEFAULT_OLDER_THAN_MS;
  if (typeof value !== "number") {
    throw new TypeError(
      `Cannot use option "olderThan": expected a number, got ${typeof value}`,
    );
  }
  if (Number.isNaN(value) || value < 0) {
    throw new RangeError(
      `Cannot use option "olderThan": ${value} is not a number of milliseconds from 0 up`,
    );
  }
  return value;
}

/**
 * Removes, from `dir`, the regular files named like our temporary files
 * whose process is gone and whose last change is at least `olderThan`
 * milliseconds before `now`; returns their paths.
 */
function* sweep(
  dir: string,
  olderThan: number,
  now: number,
  isAlive: IsAlive,
  adapter: RuntimeAdapter,
): Steps<string[]> {
  let names: string[];
  try {
    names = yield* perform(request("readDir", dir));
  } catch (error) {
    throw sweepError(dir, "read directory", dir, error);
  }
  const removed: string[] = [];
  for (const name of [...names].sort()) {
    // Lock files go through the lock protocol's own race-free reclaim.
    if (yield* sweepLock(join(dir, name), adapter, now, olderThan)) {
      removed.push(join(dir, name));
      continue;
    }
    const pid = tempNameOwner(name);
    // Our own process is alive too: its writes in flight are never touched.
    if (pid === null || isAlive(pid)) continue;
    const path = join(dir, name);
    const stat = yield* settle(request("lstat", path));
    if (!stat.ok) {
      if (errorCode(stat.error) === "ENOENT") continue;
      throw sweepError(dir, "stat", path, stat.error);
    }
    const entry = stat.value;
    // We only ever create regular files; anything else is not ours.
    if (entry === null || entry.kind !== "file") continue;
    if (now - entry.mtimeMs < olderThan) continue;
    const gone = yield* settle(request("remove", path));
    if (gone.ok) {
      removed.push(path);
    } else if (errorCode(gone.error) !== "ENOENT") {
      // ENOENT: another sweeper was first, which is fine.
      throw sweepError(dir, "remove", path, gone.error);
    }
  }
  return removed;
}

function plan(dir: unknown, options: unknown): Steps<string[]> {
  const path = toAbsolutePath(dir, "dir");
  const olderThan = checkOlderThan(options);
  const { adapter } = currentContext();
  return sweep(path, olderThan, Date.now(), (pid) => {
    return adapter.isProcessAlive(pid);
  }, adapter);
}

/**
 * Removes the temporary files that writers killed mid-write (`kill -9`, a
 * crash, a power cut) left in `dir`. A write that ends normally, fails, or is
 * aborted removes its own temporary file; only a process that dies without
 * running any code can leave one behind, never a damaged target.
 *
 * Only files matching this library's own temporary name
 * (`.{name}.{pid}-{random}.atomic-tmp`) are considered, and of those only
 * the regular files whose process is no longer alive on this machine and
 * whose last modification is at least `olderThan` milliseconds ago: a file
 * that a live process is still writing is never removed. Subdirectories are
 * not searched. Lock files left by {@linkcode lockFile} and
 * {@linkcode updateFileAtomic} holders that died (`.{name}.atomic-lock`) are
 * removed too, when as old and provably stale: their holder is gone, or
 * their lease ran out.
 *
 * @param dir The directory to sweep (a string or a `file:` URL).
 * @param options Which files are old enough; see {@linkcode RemoveStaleTempsOptions}.
 * @returns The absolute paths of the files removed, sorted by name.
 * @throws {TypeError} If `dir` is not a non-empty string or `file:` URL, or `options` or `olderThan` has the wrong type.
 * @throws {RangeError} If `olderThan` is negative or NaN.
 * @throws {Error} With the runtime's `code` (`ENOENT`, `ENOTDIR`, `EACCES`, …) if the directory cannot be read or a stale file cannot be removed.
 *
 * @example Usage
 * ```ts
 * import { removeStaleTemps } from "@x/atomic";
 *
 * const dir = await Deno.makeTempDir();
 * // At start-up, before writing to files in `dir` again:
 * const removed = await removeStaleTemps(dir, { olderThan: 10 * 60 * 1000 });
 * console.log(`removed ${removed.length} stale temporary files`);
 * ```
 */
export function removeStaleTemps(
  dir: string | URL,
  options?: RemoveStaleTempsOptions,
): Promise<string[]> {
  let steps: Steps<string[]>;
  try {
    steps = plan(dir, options);
  } catch (error) {
    return Promise.reject(error);
  }
  return runAsync(steps, currentContext().adapter.async);
}

/**
 * Removes the temporary files that writers killed mid-write left in `dir`,
 * synchronously. Removes exactly what {@linkcode removeStaleTemps} removes:
 * only our own temporary files, of processes that are gone, old enough.
 *
 * @param dir The directory to sweep (a string or a `file:` URL).
 * @param options Which files are old enough; see {@linkcode RemoveStaleTempsOptions}.
 * @returns The absolute paths of the files removed, sorted by name.
 * @throws {TypeError} If `dir` is not a non-empty string or `file:` URL, or `options` or `olderThan` has the wrong type.
 * @throws {RangeError} If `olderThan` is negative or NaN.
 * @throws {Error} With the runtime's `code` (`ENOENT`, `ENOTDIR`, `EACCES`, …) if the directory cannot be read or a stale file cannot be removed.
 *
 * @example Usage
 * ```ts
 * import { removeStaleTempsSync } from "@x/atomic";
 *
 * const dir = Deno.makeTempDirSync();
 * const removed = removeStaleTempsSync(dir, { olderThan: 0 });
 * console.log(removed); // []
 * ```
 */
export function removeStaleTempsSync(
  dir: string | URL,
  options?: RemoveStaleTempsOptions,
): string[] {
  return runSync(plan(dir, options), currentContext().adapter.sync);
}
