/**
 * What a benchmark run measured, for the results files to record: the
 * commit of the code, the date and the load average.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import os from "node:os";

/**
 * The commit checked out in `dir`, as `git rev-parse --short HEAD` names it,
 * with `+dirty` if a tracked file has changes (untracked files are not
 * counted: `node_modules` may be an untracked link); or, where git cannot
 * say, a sentence saying so.
 */
export function commitOf(dir: string): string {
  const git = (args: string[]) =>
    execFileSync("git", args, {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  try {
    const head = git(["rev-parse", "--short", "HEAD"]);
    const dirty = git(["status", "--porcelain", "--untracked-files=no"]);
    return dirty === "" ? head : `${head}+dirty`;
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : "";
    return `unknown (git unavailable or not a repository${
      reason ? `: ${reason}` : ""
    })`;
  }
}

/** The one-minute load average, to one decimal. */
export function loadAverage(): string {
  return os.loadavg()[0].toFixed(1);
}
