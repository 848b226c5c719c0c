/**
 * The current directory's path, as the kernel has it now. Node and Bun keep
 * the path `process.cwd()` first gave until the process changes directory
 * (a Bun worker keeps its own after the main thread changed it): once the
 * directory is renamed or deleted, and another made at its old path, that
 * text names another directory, or none.
 *
 * @module
 */
import fs from "node:fs";
import { resolve } from "node:path";
import { checkCurrentDirectory } from "./_exact_name.ts";
import { isUnknownId } from "./_file_id.ts";

/**
 * The id (`EntryInfo.id`, see `_file_id.ts`) of what `path` leads to, by
 * a runtime's cheapest `stat` that tells it exactly (Deno's own: its
 * `node:fs` one took three times as long, 11 µs against 3.4, and rounds
 * inode numbers as Deno's does).
 */
export type StatOf = (path: string) => string;

/**
 * The current directory's path: the runtime's, checked against the
 * directory itself (`stat(".")`), else the kernel's (`/proc/self/cwd`),
 * checked alike. Throws an `ENOENT` error where no path leads to it (it was
 * deleted, or it is in another mount namespace: a path into a container's
 * files spelled from the host), or `EILSEQ` where its path is not UTF-8
 * (see `checkCurrentDirectory`), or `ENAMETOOLONG` where its path is too
 * long to use, or `EOVERFLOW` where the runtime cannot tell the directory
 * from others (its inode number rounded: Deno without `--allow-ffi`, see
 * `_file_id.ts`), as no path can then be checked. Where the directory cannot be looked at
 * (Deno without the permission to read it), the runtime's path stands.
 * `statOf` is the runtime's `stat`.
 */
export function currentDirectory(statOf: StatOf): string {
  const cwd = resolve();
  checkCurrentDirectory(cwd);
  let here: string;
  try {
    here = statOf(".");
  } catch {
    return cwd; // not to be looked at: the runtime's, as a plain write takes
  }
  if (isUnknownId(here)) {
    throw Object.assign(
      new Error(
        `cannot tell the current directory ("${cwd}") from others: its inode number is above 2^53, which this runtime gives rounded`,
      ),
      { code: "EOVERFLOW", syscall: "stat", path: cwd },
    );
  }
  if (leadsTo(statOf, cwd, here)) return cwd;
  let kernels: string | null = null;
  try {
    kernels = fs.readlinkSync("/proc/self/cwd");
  } catch { /* no /proc: nothing else can tell */ }
  if (kernels !== null && leadsTo(statOf, kernels, here)) {
    checkCurrentDirectory(kernels);
    return kernels;
  }
  throw Object.assign(
    new Error(`no path leads to the current directory ("${cwd}")`),
    { code: "ENOENT", syscall: "getcwd", path: cwd },
  );
}

/**
 * Whether `path` leads to the directory whose id is `here` (an id that
 * cannot be told equals none: no path is trusted); a path too long
 * to use (`ENAMETOOLONG`: Deno has the path of a current directory deeper
 * than `PATH_MAX`) is thrown, as the first call that used it would fail.
 */
function leadsTo(statOf: StatOf, path: string, here: string): boolean {
  try {
    return statOf(path) === here;
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENAMETOOLONG") throw error;
    return false;
  }
}
