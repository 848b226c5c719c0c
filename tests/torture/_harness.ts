/**
 * The torture families' plumbing: runtimes, child processes that talk in
 * JSON lines, and the checks every family makes on a target after a job.
 * Nothing here runs or keeps state at import time.
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { tempNameOwner } from "../../src/_temp_name.ts";
import type { Api, Job } from "./_child.ts";
export { Skip } from "../_skip.ts";
export { hasCommand } from "../_commands.ts";
import { sha256 } from "./_payload.ts";

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

/** Every API a child can write with. */
export const APIS: Api[] = ["async", "handle", "sync"];
export const KiB = 1024;
export const MiB: number = 1024 * KiB;
export const HOUR = 3_600_000;
export { backdate, DEAD_PID, deadWriter } from "../_fixtures.ts";
/** The uid and gid of `nobody` and `nogroup` on Debian. */
export const NOBODY = 65534;

/** Runs `job` on `runtime` to its `result` message. */
export async function runJob(
  runtime: Runtime,
  job: Job,
  prefix: string[] = [],
  env: Record<string, string> = {},
  script: string = childScript,
): Promise<Message> {
  const child = new Child([...prefix, ...childArgv(runtime, job, script)], env);
  try {
    const result = await child.message("result");
    await child.finished();
    return result;
  } finally {
    child.kill();
  }
}

/** A `result` message in words: "it succeeded", or its code, operation and message. */
export function describeFailure(result: Message): string {
  return result.ok
    ? "it succeeded"
    : `${result.code} from "${result.operation}": ${result.message}`;
}

/** The sha256 of `file`, or `null` if it does not exist. */
export function shaOf(file: string): string | null {
  const bytes = readOrNull(file);
  return bytes === null ? null : sha256(bytes);
}

/**
 * Throws unless `dir` holds no temporary file, and none was there when the
 * child's write settled (`result.temps`): the library's exit hook removes
 * temporary files still in flight, so after the exit alone a write that
 * failed to remove its own would go unseen.
 */
export function noTemps(dir: string, result: Message): void {
  const settled = result.temps as string[];
  expect(
    settled.length === 0,
    `temporary files left when the write settled: ${settled.join(", ")}`,
  );
  const left = tempsIn(dir);
  expect(left.length === 0, `temporary files left: ${left.join(", ")}`);
}
