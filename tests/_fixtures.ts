/** Shared test helpers: temp dirs, a fault-injecting adapter, child processes. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { useAdapter } from "../src/_context.ts";
import { detectAdapter } from "../src/runtime/detect.ts";
import type {
  AsyncFsOps,
  FsOps,
  OpName,
  RuntimeAdapter,
} from "../src/runtime/types.ts";
import {
  isKnownWriter,
  TEMP_SUFFIX,
  type TempOwner,
} from "../src/_temp_name.ts";
import assert from "node:assert/strict";
import { AtomicWriteError } from "../mod.ts";

/** The repository root. */
export const root: string = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  "..",
);

/** Makes a fresh directory, passes it to `fn`, removes it afterwards. */
export async function withTempDir<T>(
  fn: (dir: string) => T | Promise<T>,
): Promise<T> {
  const dir = fs.realpathSync(
    fs.mkdtempSync(path.join(os.tmpdir(), "atomic-test-")),
  );
  try {
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Temporary files of ours left in `dir`. */
export function tempsIn(dir: string): string[] {
  return fs.readdirSync(dir).filter((name) => name.endsWith(TEMP_SUFFIX));
}

/** A process id no process has: above Linux's largest `pid_max`. */
export const DEAD_PID = 999_999_999;

/**
 * A writer on this host (same boot and PID namespace) that is certainly
 * gone; where this runtime cannot read writer identities, only a dead
 * process id (which a sweeper cannot judge).
 */
export function deadWriter(): TempOwner {
  const me = detectAdapter().writer();
  return isKnownWriter(me)
    ? { ...me, pid: DEAD_PID, thread: DEAD_PID }
    : { pid: DEAD_PID };
}

/** Sets the file's times to `ageMs` ago. */
export function backdate(file: string, ageMs: number): void {
  const when = (Date.now() - ageMs) / 1000;
  fs.utimesSync(file, when, when);
}

/** The file's bytes as text. */
export function read(file: string): string {
  return fs.readFileSync(file, "utf8");
}

/** A system error like the runtimes throw. */
export function systemError(code: string, syscall = "op"): Error {
  return Object.assign(new Error(`${code}: injected fault, ${syscall}`), {
    code,
    syscall,
  });
}

/** One injected fault. */
export interface Fault {
  /** The operation to fail. */
  op: OpName;
  /** The error code to fail with. */
  code: string;
  /** Fail only calls whose first path argument satisfies this. */
  where?: (args: unknown[]) => boolean;
  /** Fail the n-th matching call (1-based) and later ones; default 1. */
  from?: number;
  /** Fail this many matching calls, then succeed again; default all. */
  times?: number;
  /** For `write`: before failing, let this many bytes through (a short write). */
  shortWrite?: number;
}

/** A fault adapter: the real adapter, with faults injected and every call logged. */
export interface FaultAdapter extends RuntimeAdapter {
  /** Every operation called, in order, as `name` or `name:basename`. */
  readonly calls: string[];
  /** The delays asked of `sleep`, which returns at once. */
  readonly sleeps: number[];
}

function label(name: string, args: unknown[]): string {
  return typeof args[0] === "string"
    ? `${name}:${path.basename(args[0])}`
    : name;
}

/**
 * The real adapter, but that `before` runs just before its first read
 * (`readFile`, either form) of a file named `name`: another process's doing
 * between a look at the name and the read.
 */
export function beforeFirstRead(
  name: string,
  before: () => void,
): FaultAdapter {
  const adapter = faultAdapter([]);
  let done = false;
  const first = (file: string): void => {
    if (done || path.basename(file) !== name) return;
    done = true;
    before();
  };
  const { sync, async } = adapter;
  const [read, readAsync] = [sync.readFile, async.readFile];
  sync.readFile = (file) => {
    first(file);
    return read(file);
  };
  async.readFile = (file) => {
    first(file);
    return readAsync(file);
  };
  return adapter;
}

/**
 * Wraps the runtime's real adapter so that the listed faults happen. Extra
 * fields replace the adapter's (`renameRetryCodes` to act as Windows, …).
 */
export function faultAdapter(
  faults: Fault[],
  extra: Partial<RuntimeAdapter> = {},
): FaultAdapter {
  const real = detectAdapter();
  const calls: string[] = [];
  const sleeps: number[] = [];
  const seen = new Map<Fault, number>();

  const shortWrites = new Map<Fault, number>();
  for (const fault of faults) {
    if (fault.shortWrite !== undefined) {
      shortWrites.set(fault, fault.shortWrite);
    }
  }

  /** The arguments to pass on to the real operation, or the error to throw. */
  function decide(name: OpName, args: unknown[]): unknown[] | Error {
    calls.push(label(name, args));
    for (const fault of faults) {
      if (fault.op !== name || (fault.where && !fault.where(args))) continue;
      const n = (seen.get(fault) ?? 0) + 1;
      seen.set(fault, n);
      const from = fault.from ?? 1;
      if (n < from) continue;
      if (fault.times !== undefined && n >= from + fault.times) continue;
      const short = shortWrites.get(fault);
      if (short !== undefined) {
        // A short write: some bytes go through, the next call fails.
        shortWrites.delete(fault);
        return [args[0], (args[1] as Uint8Array).subarray(0, short)];
      }
      return systemError(fault.code, name);
    }
    return args;
  }

  const sync = {} as Record<string, unknown>;
  const async = {} as Record<string, unknown>;
  for (const name of Object.keys(real.sync) as OpName[]) {
    const realSync = real.sync[name] as (...a: unknown[]) => unknown;
    const realAsync = real.async[name] as (...a: unknown[]) => Promise<unknown>;
    sync[name] = (...args: unknown[]) => {
      if (name === "sleep") return void sleeps.push(args[0] as number);
      const decided = decide(name, args);
      if (decided instanceof Error) throw decided;
      return realSync(...decided);
    };
    async[name] = async (...args: unknown[]) => {
      if (name === "sleep") return void sleeps.push(args[0] as number);
      const decided = decide(name, args);
      if (decided instanceof Error) throw decided;
      return await realAsync(...decided);
    };
  }

  return {
    ...real,
    name: `${real.name}+faults`,
    pid: real.pid,
    ids: () => real.ids(),
    protections: () => real.protections(),
    tmpDir: () => real.tmpDir(),
    writer: () => real.writer(),
    writerState: (writer) => real.writerState(writer),
    onExit: () => () => {},
    renameRetryCodes: real.renameRetryCodes,
    ...extra,
    sync: sync as unknown as FsOps,
    async: async as unknown as AsyncFsOps,
    calls,
    sleeps,
  };
}

/**
 * A fault adapter that can name nothing through an open directory, as where
 * no /proc is mounted or Deno runs without `--allow-all`: every step names
 * its file by path.
 */
export function withoutHeldDirectories(): FaultAdapter {
  const adapter = faultAdapter([]);
  adapter.sync.openDirectory = () => null;
  adapter.async.openDirectory = () => Promise.resolve(null);
  return adapter;
}

/**
 * A fault adapter whose first `op` (an `unlink`, a `link` or a `rename`) is
 * made, then says `EINTR`, as a file server may carry out a call whose
 * caller a signal interrupted (NFS, FUSE): its retry finds the work done.
 */
export function doneButInterrupted(
  op: "remove" | "link" | "rename",
  extra: Partial<RuntimeAdapter> = {},
): FaultAdapter {
  const adapter = faultAdapter([], extra);
  let interrupted = false;
  const interrupt = () => {
    if (interrupted) return;
    interrupted = true;
    throw systemError("EINTR", op === "remove" ? "unlink" : "link");
  };
  const { sync, async } = adapter;
  const [realSync, realAsync] = [
    sync[op] as (...args: string[]) => void,
    async[op] as (...args: string[]) => Promise<void>,
  ];
  (sync[op] as (...args: string[]) => void) = (...args) => {
    realSync(...args);
    interrupt();
  };
  (async[op] as (...args: string[]) => Promise<void>) = async (...args) => {
    await realAsync(...args);
    interrupt();
  };
  return adapter;
}

/** A fault adapter whose first asynchronous fsync takes `ms` milliseconds longer. */
export function slowFirstFsync(ms = 50): FaultAdapter {
  const adapter = faultAdapter([]);
  const realSync = adapter.async.sync;
  let calls = 0;
  adapter.async.sync = async (file) => {
    if (++calls === 1) await new Promise((r) => setTimeout(r, ms));
    return await realSync(file);
  };
  return adapter;
}

/** Runs `fn` with `adapter` in use, then goes back to the real one. */
export async function using<T>(
  adapter: RuntimeAdapter,
  fn: () => T | Promise<T>,
): Promise<T> {
  useAdapter(adapter);
  try {
    return await fn();
  } finally {
    useAdapter(null);
  }
}

/**
 * Whether `promise` settles (its rejection is thrown) within `ms`
 * milliseconds: a write left waiting for good then fails its test instead
 * of hanging it.
 */
export async function settlesWithin(
  promise: Promise<unknown>,
  ms: number,
): Promise<"settled" | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise.then(() => "settled" as const),
      new Promise<"pending">((resolve) => {
        timer = setTimeout(resolve, ms, "pending");
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Which runtime runs the tests, for spawning children of the same kind. */
export function runtimeName(): "deno" | "bun" | "node" {
  const global = globalThis as { Deno?: unknown; Bun?: unknown };
  return global.Deno ? "deno" : global.Bun ? "bun" : "node";
}

/** Makes the directory `dir/name` with `owner` (uid, gid) and `mode` (whatever the umask); returns its path. */
export function ownedDirectory(
  dir: string,
  name: string,
  owner: [number, number],
  mode: number,
): string {
  const made = path.join(dir, name);
  fs.mkdirSync(made);
  fs.chownSync(made, ...owner);
  fs.chmodSync(made, mode);
  return made;
}

/** Owner, group and special and permission bits of `file`, as "uid:gid mode" (octal). */
export function ownership(file: string): string {
  const stat = fs.statSync(file);
  return `${stat.uid}:${stat.gid} ${(stat.mode & 0o7777).toString(8)}`;
}

/** The command line that runs the TypeScript file `script` on this runtime. */
export function scriptCommand(script: string, args: string[] = []): string[] {
  const exe = process.execPath;
  if (runtimeName() === "deno") return [exe, "run", "-A", script, ...args];
  return [exe, script, ...args];
}

/** Whether this process may drop to `nobody` for permission tests (root with setpriv). */
export function canDropPrivileges(): string | null {
  if (process.platform === "win32") return "no setpriv on Windows";
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    return "needs root to switch to the nobody user";
  }
  for (const dir of ["/usr/bin", "/bin"]) {
    if (fs.existsSync(path.join(dir, "setpriv"))) return null;
  }
  return "setpriv (util-linux) is not installed";
}

/** Asserts that `promise` fails with an AtomicWriteError of `code`, and returns it. */
export async function failsWith(
  promise: Promise<unknown>,
  code: string,
): Promise<AtomicWriteError> {
  let caught: unknown;
  await promise.catch((error) => caught = error);
  assert.ok(
    caught instanceof AtomicWriteError,
    `expected an AtomicWriteError ${code}, got ${caught}`,
  );
  assert.equal(caught.code, code, String(caught));
  return caught;
}
