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

/** What tells a directory from another. */
export interface Identity {
  readonly dev: number;
  readonly ino: number | null;
}

/** A runtime's cheapest `stat` (Deno's own: its `node:fs` one took three times as long, 11 µs against 3.4). */
export type StatOf = (path: string) => Identity;

/**
 * The current directory's path: the runtime's, checked against the
 * directory itself (`stat(".")`), else the kernel's (`/proc/self/cwd`),
 * checked alike. Throws an `ENOENT` error where no path leads to it (it was
 * deleted, or it is in another mount namespace: a path into a container's
 * files spelled from the host), or `EILSEQ` where its path is not UTF-8
 * (see `checkCurrentDirectory`), or `ENAMETOOLONG` where its path is too
 * long to use. Where the directory cannot be looked at
 * (Deno without the permission to read it), the runtime's path stands.
 * `statOf` is the runtime's `stat`.
 */
export function currentDirectory(statOf: StatOf): string {
  const cwd = resolve();
  checkCurrentDirectory(cwd);
  let here: Identity;
  try {
    here = statOf(".");
  } catch {
    return cwd; // not to be looked at: the runtime's, as a plain write takes
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
 * Whether `path` leads to the directory `here` describes; a path too long
 * to use (`ENAMETOOLONG`: Deno has the path of a current directory deeper
 * than `PATH_MAX`) is thrown, as the first call that used it would fail.
 */
function leadsTo(statOf: StatOf, path: string, here: Identity): boolean {
  try {
    const found = statOf(path);
    return found.ino === here.ino && found.dev === here.dev;
  } catch (error) {
    if ((error as { code?: unknown }).code === "ENAMETOOLONG") throw error;
    return false;
  }
}
