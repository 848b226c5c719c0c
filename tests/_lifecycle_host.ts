/**
 * A host program for the lifecycle tests, run on the same runtime as the
 * test: `_lifecycle_host.ts MODE TARGET [ARG]`. It prints one JSON line when it
 * is ready, with the temporary files beside TARGET (`temps`), then waits.
 *
 * - `hold HOST`: start a write to TARGET and wait. HOST is how the program
 *   handles SIGTERM: `none`; `signal-exit` (its `onExit`, which prints
 *   "signal-exit saw SIGNAL"); `once` (a graceful shutdown added with
 *   `process.once` before the write: commit, then exit 0). `idle` makes no
 *   write at all (the control: the same program without the library).
 * - `throw` / `reject`: start a write, then die of an uncaught exception /
 *   unhandled rejection.
 * - `survive`: handle unhandled rejections the Node way
 *   (`process.on("unhandledRejection")`), start a write, let a rejection go
 *   unhandled, then commit the write and print how it ended.
 * - `survive-throw`: start a write, then handle uncaught exceptions the Node
 *   way (`process.on("uncaughtException")`, added while the write is in
 *   flight), let an exception go uncaught, then commit the write and print
 *   how it ended.
 * - `worker HOW`: a worker starts a write; then the main thread `exit`s
 *   (code 5), `throw`s, waits for a `signal`, or `terminate`s the worker and
 *   prints `{"terminated":true}`, then waits.
 * - `maketemp`: make a file with `makeTempFileSync` in TARGET's directory,
 *   print it, exit 0.
 * - `sweep`: print what `removeStaleTempsSync(TARGET, { olderThan: 0 })` removes.
 * - `listeners`: record every listener added (`+name`) or removed
 *   (`-name`) on `process`, `globalThis` and `Deno`'s signals, and print them
 *   per step: a sweep, a `makeTempFileSync`, its removal, one write, and lock
 *   tries that fail before they try (a `lockFileSync` with an aborted
 *   signal; an `updateFileAtomicSync` in the thread that holds the lock,
 *   then the lock's release).
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { onExit } from "signal-exit";
import {
  type AtomicFile,
  lockFileSync,
  makeTempFileSync,
  removeStaleTempsSync,
  updateFileAtomicSync,
  writeFileAtomicSync,
} from "../mod.ts";
import { startWrite, tempsBeside } from "./_child.ts";

/** Prints one JSON line, synchronously (the process may end right after). */
function say(value: unknown): void {
  fs.writeSync(1, JSON.stringify(value) + "\n");
}

const wait = () => setInterval(() => {}, 1000);

async function hold(target: string, host: string): Promise<void> {
  let file: AtomicFile | null = null;
  if (host === "signal-exit") {
    onExit((_code, signal) => void say({ signalExitSaw: signal }));
  } else if (host === "once") {
    process.once("SIGTERM", async () => {
      await file?.commit();
      process.exit(0);
    });
  }
  if (host !== "idle") file = await startWrite(target);
  say({ temps: tempsBeside(target) });
  wait();
}

function startWorker(target: string): {
  ready: Promise<void>;
  terminate(): Promise<unknown>;
} {
  const url = new URL("./_lifecycle_worker.ts", import.meta.url);
  const Web = (globalThis as { Worker?: typeof Worker }).Worker;
  if (Web !== undefined) { // Deno and Bun: their own Worker
    const worker = new Web(url, { type: "module" });
    worker.postMessage(target);
    return {
      ready: new Promise((resolve) => worker.onmessage = () => resolve()),
      terminate: () => Promise.resolve(worker.terminate()),
    };
  }
  return nodeWorker(url, target);
}

/** Commits `file` 100 ms from now (the program went on), prints how that ended, and exits 0. */
async function commitLater(file: AtomicFile): Promise<never> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  try {
    await file.commit();
    say({ committed: true });
  } catch (error) {
    say({ committed: String(error) });
  }
  process.exit(0);
}

async function main(): Promise<void> {
  const [mode, target, arg = ""] = process.argv.slice(2);
  if (mode === "hold") return await hold(target, arg);
  if (mode === "throw" || mode === "reject") {
    await startWrite(target);
    say({ temps: tempsBeside(target) });
    if (mode === "reject") void Promise.reject(new Error("unhandled"));
    else {setTimeout(() => {
        throw new Error("uncaught");
      }, 0);}
    wait();
    return;
  }
  if (mode === "survive") {
    process.on("unhandledRejection", () => say({ unhandled: true }));
    const file = await startWrite(target);
    say({ temps: tempsBeside(target) });
    void Promise.reject(new Error("unhandled"));
    return await commitLater(file);
  }
  if (mode === "survive-throw") {
    const file = await startWrite(target);
    say({ temps: tempsBeside(target) });
    process.on("uncaughtException", () => say({ uncaught: true }));
    setTimeout(() => {
      throw new Error("uncaught");
    }, 0);
    return await commitLater(file);
  }
  if (mode === "worker") {
    const worker = startWorker(target);
    await worker.ready;
    say({ temps: tempsBeside(target) });
    if (arg === "exit") process.exit(5);
    if (arg === "throw") {
      setTimeout(() => {
        throw new Error("uncaught");
      }, 0);
    }
    if (arg === "terminate") {
      await worker.terminate();
      say({ terminated: true });
    }
    wait();
    return;
  }
  if (mode === "maketemp") {
    say({ path: makeTempFileSync({ dir: path.dirname(target) }).path });
    process.exit(0);
  }
  if (mode === "listeners") return listeners(target);
  if (mode === "sweep") {
    return say({ removed: removeStaleTempsSync(target, { olderThan: 0 }) });
  }
  throw new Error(`unknown mode ${mode}`);
}

/** Records listener changes on `process`, `globalThis` and Deno's signal API into `log`. */
function spyOnListeners(log: string[]): void {
  const spy = (
    target: Record<string, unknown>,
    names: string[],
    sign: string,
  ) => {
    for (const name of names) {
      const real = target[name];
      if (typeof real !== "function") continue;
      target[name] = function (
        this: unknown,
        event: unknown,
        ...rest: unknown[]
      ) {
        log.push(`${sign}${String(event)}`);
        return real.call(this, event, ...rest);
      };
    }
  };
  const proc = process as unknown as Record<string, unknown>;
  spy(proc, [
    "on",
    "addListener",
    "once",
    "prependListener",
    "prependOnceListener",
  ], "+");
  spy(proc, ["off", "removeListener"], "-");
  const global = globalThis as unknown as Record<string, unknown>;
  spy(global, ["addEventListener"], "+");
  spy(global, ["removeEventListener"], "-");
  const deno = global.Deno as Record<string, unknown> | undefined;
  if (deno) {
    spy(deno, ["addSignalListener"], "+");
    spy(deno, ["removeSignalListener"], "-");
  }
}

function listeners(target: string): void {
  const log: string[] = [];
  spyOnListeners(log);
  removeStaleTempsSync(path.dirname(target));
  say({ sweep: log.splice(0) });
  const tmp = makeTempFileSync({ dir: path.dirname(target) });
  say({ makeTemp: log.splice(0) });
  tmp[Symbol.dispose]();
  say({ makeTempRemoved: log.splice(0) });
  writeFileAtomicSync(target, "new");
  say({ write: log.splice(0) });
  try {
    lockFileSync(target, { signal: AbortSignal.abort() });
  } catch { /* aborted, as meant */ }
  const lock = lockFileSync(target);
  try {
    updateFileAtomicSync(target, () => "x");
  } catch { /* EDEADLK, as meant */ }
  lock.releaseSync();
  say({ failedLocks: log.splice(0) });
}

/** Node: `node:worker_threads` (Node has no web Worker). */
async function nodeWorkerModule() {
  return await import("node:worker_threads");
}

function nodeWorker(url: URL, target: string) {
  const started = nodeWorkerModule().then(({ Worker: NodeWorker }) => {
    const worker = new NodeWorker(url);
    worker.postMessage(target);
    return worker;
  });
  return {
    ready: started.then((worker) =>
      new Promise<void>((resolve) => worker.once("message", () => resolve()))
    ),
    terminate: () => started.then((worker) => worker.terminate()),
  };
}

if (
  import.meta.main ?? path.basename(process.argv[1]) === "_lifecycle_host.ts"
) {
  await main();
}
