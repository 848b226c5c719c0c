/**
 * The torture driver's plumbing: runtimes, child processes that talk in JSON
 * lines, case bookkeeping and counters.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { tempNameOwner } from "../../src/_temp_name.ts";
import type { Job } from "./_child.ts";

/** The repository root. */
export const root: string = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "../..",
);
/** The child program every runtime runs. */
export const childScript: string = path.join(
  root,
  "tests/torture/_child.ts",
);

/** A runtime and the command line that runs a TypeScript file on it. */
export interface Runtime {
  name: "deno" | "bun" | "node";
  argv: string[];
}

/** Deno, Bun and Node 24, as installed in `node_modules`. */
export const runtimes: Runtime[] = [
  {
    name: "deno",
    argv: [path.join(root, "node_modules/.bin/deno"), "run", "-A", "--quiet"],
  },
  { name: "bun", argv: [path.join(root, "node_modules/.bin/bun")] },
  { name: "node", argv: [path.join(root, "node_modules/node/bin/node")] },
];

/** Whether the children write with the naive implementation (`ATOMIC_IMPL=naive`). */
export const naive: boolean = process.env.ATOMIC_IMPL === "naive";

/** The command line that runs `job` in a child (`script`) on `runtime`. */
export function childArgv(
  runtime: Runtime,
  job: Job,
  script: string = childScript,
): string[] {
  return [...runtime.argv, script, JSON.stringify(job)];
}

/** One JSON line a child printed. */
export type Message = { type: string } & Record<string, unknown>;

/** A child process whose stdout is a stream of JSON messages. */
export class Child {
  readonly proc: ChildProcess;
  readonly messages: Message[] = [];
  /** Whether the child leads its own process group (see the constructor). */
  readonly group: boolean;
  /** Its stderr (and any stdout that is not JSON), cut to the last few KiB. */
  output = "";
  /** Resolves once the process has exited and its pipes are closed. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  #done = false;
  #wake: () => void = () => {};

  /**
   * Starts `argv`. With `group`, the child leads a process group of its own,
   * and {@linkcode Child.kill} kills the whole group (its children too).
   */
  constructor(
    argv: string[],
    env: Record<string, string> = {},
    group = false,
  ) {
    this.group = group;
    this.proc = spawn(argv[0], argv.slice(1), {
      detached: group,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, DENO_NO_UPDATE_CHECK: "1", ...env },
    });
    let pending = "";
    this.proc.stdout!.setEncoding("utf8").on("data", (text: string) => {
      pending += text;
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        try {
          this.messages.push(JSON.parse(line));
        } catch {
          this.#note(`stdout: ${line}\n`);
        }
        this.#wake();
      }
    });
    this.proc.stderr!.setEncoding("utf8").on("data", (text: string) => {
      this.#note(text);
    });
    this.proc.stdin!.on("error", () => {});
    this.exited = new Promise((resolve) => {
      this.proc.on("close", (code, signal) => {
        this.#done = true;
        this.#wake();
        resolve({ code, signal });
      });
      this.proc.on("error", (error) => {
        this.#note(String(error));
        this.#done = true;
        this.#wake();
        resolve({ code: -1, signal: null });
      });
    });
  }

  #note(text: string): void {
    this.output = (this.output + text).slice(-4000);
  }

  /** The first message of `type`, waiting for it up to `timeoutMs`. */
  async message(type: string, timeoutMs = 60_000): Promise<Message> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find((m) => m.type === type);
      if (found) return found;
      if (this.#done) {
        throw new Error(
          `child ended without a "${type}" message: ${this.output.trim()}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        this.kill();
        throw new Error(`no "${type}" message within ${timeoutMs} ms`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits for the child to end, killing it after `timeoutMs`. */
  async finished(
    timeoutMs = 30_000,
  ): Promise<{ code: number | null; signal: string | null }> {
    const timer = setTimeout(() => this.kill(), timeoutMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends one line to the child's stdin. */
  send(line: string): void {
    this.proc.stdin!.write(line + "\n");
  }

  /** Kills the child (SIGKILL unless told otherwise) if it still runs, or its group. */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.group && this.proc.pid !== undefined) {
      try {
        process.kill(-this.proc.pid, signal);
      } catch { /* the group is gone */ }
    } else if (!this.#done) this.proc.kill(signal);
  }
}

/** A case that cannot run here, with the reason. */
export class Skip extends Error {}

/** Per-runtime counters printed at the end. */
export interface Counts {
  kills: number;
  faults: number;
  reads: number;
  writes: number;
  passed: number;
  failed: number;
  skipped: number;
}

const counts = new Map<string, Counts>();

/** The counters of `runtime` (or of `"all"`). */
export function countsOf(runtime: string): Counts {
  let c = counts.get(runtime);
  if (c === undefined) {
    c = {
      kills: 0,
      faults: 0,
      reads: 0,
      writes: 0,
      passed: 0,
      failed: 0,
      skipped: 0,
    };
    counts.set(runtime, c);
  }
  return c;
}

/** One case's outcome. */
export interface Outcome {
  item: number;
  name: string;
  runtime: string;
  status: "pass" | "fail" | "skip";
  detail: string;
}

/** Every case run so far. */
export const outcomes: Outcome[] = [];

/**
 * Runs one case: it passes when `fn` returns (its text says what was shown),
 * fails when it throws, and is skipped when it throws {@linkcode Skip}.
 */
export async function runCase(
  item: number,
  name: string,
  runtime: string,
  fn: () => Promise<string>,
): Promise<void> {
  const started = Date.now();
  let outcome: Outcome;
  try {
    const detail = await fn();
    outcome = { item, name, runtime, status: "pass", detail };
  } catch (error) {
    const skip = error instanceof Skip;
    outcome = {
      item,
      name,
      runtime,
      status: skip ? "skip" : "fail",
      detail: error instanceof Error ? error.message : String(error),
    };
  }
  outcomes.push(outcome);
  const c = countsOf(runtime);
  if (outcome.status === "pass") c.passed++;
  else if (outcome.status === "fail") c.failed++;
  else c.skipped++;
  const label = { pass: "PASS", fail: "FAIL", skip: "SKIP" }[outcome.status];
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `${label} [${item}] ${name} (${runtime}, ${secs}s): ${outcome.detail}`,
  );
}

/** Runs `tasks` with at most `limit` at a time. */
export async function pool(
  limit: number,
  tasks: (() => Promise<void>)[],
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The file's bytes, or `null` if it does not exist. */
export function readOrNull(file: string): Uint8Array | null {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") return null;
    throw error;
  }
}

/** Names in `dir` that look like temporary files: ours, or anything ending like ours. */
export function tempsIn(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) =>
    tempNameOwner(name) !== null || name.endsWith(".atomic-tmp")
  ).sort();
}

/** Throws with `message` unless `condition` holds. */
export function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
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
