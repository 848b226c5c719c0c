/** A child process under test: its first line, how it ended, signals to send. */
import { spawn } from "node:child_process";
import path from "node:path";
import process from "node:process";
import { root, scriptCommand } from "./_fixtures.ts";

/** How a child process ended: its exit code, or the signal that ended it. */
export interface Ended {
  code: number | null;
  signal: string | null;
}

/** A running child process. */
export interface Running {
  /** The child's process id. */
  readonly pid: number;
  /** Resolves with the first line the child prints. */
  firstLine: Promise<string>;
  /** Resolves with the JSON value of the `n`-th line (0-based) the child prints. */
  line(n: number): Promise<unknown>;
  /** Resolves with how the child ended. */
  ended: Promise<Ended>;
  /** Everything the child wrote to stderr so far. */
  stderr(): string;
  kill(signal: NodeJS.Signals): void;
}

/** How long a child may take to end before the test calls it hung (and kills it). */
const HUNG_MS = 30_000;

/** Starts `command`; a child that outlives {@linkcode HUNG_MS} after `ended` is awaited is killed. */
export function start(
  command: string[],
  env: Record<string, string> = {},
): Running {
  const [exe, ...rest] = command;
  const proc = spawn(exe, rest, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "";
  let err = "";
  const waiters: (() => void)[] = [];
  proc.stdout.on("data", (chunk) => {
    out += chunk;
    for (const wake of waiters.splice(0)) wake();
  });
  proc.stderr.on("data", (chunk) => err += chunk);
  let done = false;
  // "close", not "exit": by then all of stdout has been read.
  const exited = new Promise<Ended>((resolve) =>
    proc.on("close", (code, signal) => {
      done = true;
      for (const wake of waiters.splice(0)) wake();
      resolve({ code, signal });
    })
  );
  function line(n: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const lines = out.split("\n");
        if (lines.length > n + 1) return resolve(lines[n]);
        if (done) return reject(new Error(`child ended early: ${err}`));
        waiters.push(check);
      };
      check();
    });
  }
  const firstLine = line(0);
  firstLine.catch(() => {});
  const ended = new Promise<Ended>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`child hung: still running after ${HUNG_MS} ms`));
    }, HUNG_MS);
    exited.then((how) => {
      clearTimeout(timer);
      resolve(how);
    });
  });
  ended.catch(() => {});
  return {
    pid: proc.pid as number,
    firstLine,
    line: async (n) => JSON.parse(await line(n)),
    ended,
    stderr: () => err,
    // process.kill, not proc.kill: Deno's ChildProcess sends only the first signal.
    kill: (signal) => process.kill(proc.pid as number, signal),
  };
}

/** The command that runs the test child `script` (in tests/) on this runtime. */
export function childCommand(script: string, args: string[]): string[] {
  return scriptCommand(path.join(root, "tests", script), args);
}

/** Test options for tests that run child processes: Bun's default of 5 s per test is too short on a busy machine. */
export const CHILD_TEST = { timeout: 120_000 };
