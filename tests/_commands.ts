/** Running system commands from the suites that drive real systems. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";

/** Runs a command; returns its trimmed stdout, or throws with its stderr. */
export function sh(command: string, ...args: string[]): string {
  const result = spawnSync(command, args, { encoding: "utf8" });
  if (result.status !== 0) {
    const why = (result.stderr || result.error?.message || "").trim();
    throw new Error(`${command} ${args.join(" ")}: ${why}`);
  }
  return result.stdout.trim();
}

/** Whether `command` is on the PATH. */
export function hasCommand(command: string): boolean {
  return (process.env.PATH ?? "/usr/bin:/bin").split(":").some((dir) => {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * strace's arguments (before the command) that make each of `calls` (comma
 * separated) in the command and its children fail or wait as `fault` says
 * (`error=EIO`, `delay_enter=400000` µs), on the path `only` alone if given
 * (`-P`: also a descriptor open on it); strace's own output is dropped.
 */
export function injecting(
  calls: string,
  fault: string,
  only?: string,
): string[] {
  return [
    "-f",
    "-qq",
    "-o",
    "/dev/null",
    "-e",
    `trace=${calls}`,
    "-e",
    `inject=${calls}:${fault}`,
    ...(only === undefined ? [] : ["-P", only]),
    "--",
  ];
}
