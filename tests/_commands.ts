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

/** How a child run by {@linkcode withCapabilities} ended. */
export interface CapabilityOutcome {
  /** Its effective capabilities, as it started (`-1n`: it never said). */
  caps: bigint;
  /** What it printed after them. */
  stdout: string;
  status: number | null;
  stderr: string;
}

/**
 * Runs `command` under `setpriv` with `setprivArgs` (capabilities dropped,
 * another user), `input` on its standard input and `env` added to its
 * environment; a shell between them prints the effective set the command
 * starts with (`exec` keeps it), so that a test can tell whether the drop
 * took, and skip otherwise.
 */
export function withCapabilities(
  setprivArgs: readonly string[],
  command: readonly string[],
  input = "",
  env: Record<string, string> = {},
): CapabilityOutcome {
  const run = spawnSync("setpriv", [
    ...setprivArgs,
    "sh",
    "-c",
    'grep "^CapEff:" /proc/self/status && exec "$@"',
    "sh",
    ...command,
  ], {
    encoding: "utf8",
    input,
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  const [first = "", ...rest] = (run.stdout ?? "").split("\n");
  const hex = /^CapEff:\s*([0-9a-f]+)$/.exec(first)?.[1];
  return {
    caps: hex === undefined ? -1n : BigInt(`0x${hex}`),
    stdout: rest.join("\n"),
    status: run.status,
    stderr: run.stderr ?? run.error?.message ?? "",
  };
}

/** Whether the effective set `caps` (from {@linkcode withCapabilities}) has the capability numbered `cap`. */
export function hasCapability(caps: bigint, cap: bigint): boolean {
  return caps >= 0n && ((caps >> cap) & 1n) === 1n;
}
