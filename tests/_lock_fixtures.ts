/**
 * Helpers for the lock tests, the lock torture and the lock benchmark:
 * children on any runtime, fake lock files, the mixed-runtime counter.
 */
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  beforeFirstRead,
  type FaultAdapter,
  root,
  runtimeName,
  scriptCommand,
} from "./_fixtures.ts";
import { counterValue } from "./_lock_child.ts";
import { lockName } from "../src/_lock_name.ts";
import { encodeRecord, type LockRecord } from "../src/_lock_record.ts";
import { tempName, type TempOwner } from "../src/_temp_name.ts";
import { processIdentity } from "../src/runtime/_writer_identity.ts";

/** A runtime a child can run on. */
export type ChildRuntime = "deno" | "bun" | "node";

const lockChild = path.join(root, "tests", "_lock_child.ts");

/** The command line that runs `script` on `runtime`, whatever runtime runs this. */
export function commandFor(
  runtime: ChildRuntime,
  script: string,
  args: string[],
): string[] {
  if (runtime === runtimeName()) return scriptCommand(script, args);
  const bin = path.join(root, "node_modules");
  if (runtime === "deno") {
    return [path.join(bin, ".bin", "deno"), "run", "-A", script, ...args];
  }
  if (runtime === "bun") {
    return [path.join(bin, ".bin", "bun"), script, ...args];
  }
  return [path.join(bin, "node", "bin", "node"), script, ...args];
}

/**
 * Runs `_lock_child.ts` with `args` on this runtime to its end: what it
 * printed (or, if nothing, its stderr), or `late` if it had not ended after
 * 30 s.
 */
export function lockChildSays(args: string[], late: string): string {
  const [exe, ...rest] = scriptCommand(lockChild, args);
  const run = spawnSync(exe, rest, { encoding: "utf8", timeout: 30_000 });
  return run.status === null ? late : run.stdout.trim() || run.stderr;
}

/** A running child of `_lock_child.ts`. */
export interface LockChild {
  readonly pid: number;
  /** Every line printed so far. */
  readonly lines: string[];
  /** Resolves with the first line that satisfies `match`. */
  waitFor(match: (line: string) => boolean): Promise<string>;
  /** Resolves with the exit code (or signal name) once the child has ended. */
  readonly ended: Promise<{ code: number | null; signal: string | null }>;
  /** What the child wrote to stderr. */
  stderr(): string;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `_lock_child.ts` with `args` on `runtime`. */
export function startLockChild(
  runtime: ChildRuntime,
  args: string[],
): LockChild {
  const [exe, ...rest] = commandFor(runtime, lockChild, args);
  const proc = spawn(exe, rest, { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  const waiters: {
    match: (l: string) => boolean;
    done: (l: string) => void;
  }[] = [];
  let partial = "";
  let err = "";
  proc.stdout.setEncoding("utf8");
  proc.stdout.on("data", (chunk: string) => {
    partial += chunk;
    let end;
    while ((end = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, end);
      partial = partial.slice(end + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.done(line);
        }
      }
    }
  });
  proc.stderr.on("data", (chunk) => err += chunk);
  const ended = new Promise<{ code: number | null; signal: string | null }>(
    (resolve) => proc.on("close", (code, signal) => resolve({ code, signal })),
  );
  return {
    pid: proc.pid as number,
    lines,
    ended,
    stderr: () => err,
    waitFor: (match) => {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((done, fail) => {
        waiters.push({ match, done });
        ended.then(() =>
          fail(new Error(`child ended first: ${err || lines.join("\n")}`))
        );
      });
    },
    kill: (signal) => void proc.kill(signal),
  };
}

/** The lock file of `target`. */
export function lockPathOf(target: string): string {
  return path.join(path.dirname(target), lockName(path.basename(target)));
}

/** The lock files anywhere under `dir` (links not followed), relative to it. */
export function locksUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const inner = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      return locksUnder(inner).map((name) => path.join(entry.name, name));
    }
    return entry.name.endsWith(".atomic-lock") ? [entry.name] : [];
  });
}

/**
 * Writes a lock file for `target` as another holder would have, with the
 * given fields changed from this process's own record, and an optional age.
 */
export function writeFakeLock(
  target: string,
  fields: Partial<LockRecord>,
  ageMs = 0,
): string {
  const record: LockRecord = {
    ...processIdentity(),
    token: "0123456789abcdef",
    lease: 10_000,
    ...fields,
  };
  const lock = lockPathOf(target);
  fs.writeFileSync(lock, encodeRecord(record));
  if (ageMs > 0) {
    const then = new Date(Date.now() - ageMs);
    fs.utimesSync(lock, then, then);
  }
  return lock;
}

/**
 * Writes a lock file for `target` as {@linkcode writeFakeLock} does, last
 * touched a minute before this machine booted, with a lease that has not
 * run out since (only the boot can tell its holder gone).
 */
export function writeLockBeforeBoot(
  target: string,
  fields: Partial<LockRecord>,
): string {
  const age = os.uptime() * 1000 + 60_000;
  return writeFakeLock(target, { ...fields, lease: 2 * age }, age);
}

/**
 * The lock file of `target` as a power cut leaves it when its holder was
 * `owner`: the holder's own name for the file and the lock's name, one empty
 * file (the record never reached the disk), last touched now. Returns both
 * paths.
 */
export function writeEmptyLock(
  target: string,
  owner: TempOwner,
): { lock: string; holder: string } {
  const lock = lockPathOf(target);
  const holder = path.join(
    path.dirname(lock),
    tempName(path.basename(lock), owner),
  );
  fs.writeFileSync(holder, "");
  fs.linkSync(holder, lock);
  return { lock, holder };
}

/** What a contention run saw. */
export interface ContentionResult {
  /** Every value acknowledged, by every worker. */
  acks: number[];
  /**
   * The counter at the end; `null` if the file was left torn (only the
   * peers' read-then-write can leave it so: steno's writers share one
   * temporary name).
   */
  final: number | null;
  /** Values acknowledged more than once. */
  duplicates: number[];
  /** Writes that failed (`error CODE` lines; only the peers print them). */
  errors: number;
  /** Wall time of the run, ms. */
  elapsedMs: number;
}

/** The counter in `target`, or `null` if the file is torn. */
function finalValue(target: string): number | null {
  try {
    return counterValue(fs.readFileSync(target, "utf8"));
  } catch (error) {
    if (error instanceof SyntaxError) return null;
    throw error;
  }
}

/** The values that occur more than once in `values`. */
export function duplicatesIn(values: number[]): number[] {
  const seen = new Set<number>();
  const twice = new Set<number>();
  for (const v of values) (seen.has(v) ? twice : seen).add(v);
  return [...twice].sort((a, b) => a - b);
}

/**
 * Runs one worker per entry of `workers` (a runtime and an API, or a peer
 * with `mode` `peer`), each incrementing the counter in `target` `n` times;
 * resolves when all ended. Several targets (the same file through several
 * mounts) are handed to the workers in turn; the first is read at the end.
 */
export async function contention(
  target: string | readonly string[],
  workers: [ChildRuntime, string][],
  n: number,
  mode = "count",
): Promise<ContentionResult> {
  const started = performance.now();
  const targets = typeof target === "string" ? [target] : target;
  const children = workers.map(([runtime, api], i) =>
    startLockChild(runtime, [
      mode,
      targets[i % targets.length],
      String(n),
      api,
    ])
  );
  const ends = await Promise.all(children.map((c) => c.ended));
  ends.forEach((end, i) => {
    if (end.code !== 0) {
      throw new Error(
        `worker ${workers[i].join("/")} failed (${end.code ?? end.signal}): ${
          children[i].stderr()
        }`,
      );
    }
  });
  const acks = children.flatMap((c) =>
    c.lines.filter((l) => l.startsWith("ack ")).map((l) => Number(l.slice(4)))
  );
  return {
    acks,
    final: finalValue(targets[0]),
    duplicates: duplicatesIn(acks),
    errors:
      children.flatMap((c) => c.lines).filter((l) => l.startsWith("error "))
        .length,
    elapsedMs: performance.now() - started,
  };
}

/**
 * Why the runtimes other than this one cannot be started (they come from
 * `npm ci`), or `null` if they can.
 */
export function otherRuntimesMissing(): string | null {
  for (const runtime of ["deno", "bun", "node"] as const) {
    if (runtime === runtimeName()) continue;
    const exe = commandFor(runtime, "x", [])[0];
    if (!fs.existsSync(exe)) return `${exe} is missing: run npm ci`;
  }
  return null;
}

/** Two workers of each runtime, one async and one mixing sync and async. */
export const MIXED_WORKERS: [ChildRuntime, "async" | "mixed"][] = [
  ["node", "async"],
  ["node", "mixed"],
  ["bun", "async"],
  ["bun", "mixed"],
  ["deno", "async"],
  ["deno", "mixed"],
];

/**
 * An adapter whose first read of the lock file `lock` meets a symbolic link
 * renamed to its name since its `lstat`, as another user writing in the
 * directory can do.
 */
export function swappingInLink(lock: string): FaultAdapter {
  return beforeFirstRead(path.basename(lock), () => {
    const link = `${lock}.link`;
    fs.symlinkSync("/etc/hostname", link);
    fs.renameSync(link, lock);
  });
}
