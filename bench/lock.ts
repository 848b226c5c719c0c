/**
 * The lock benchmark (issue 8), on Deno, Bun and Node 24:
 * - uncontended: `updateFileAtomic` of a 1 KiB file against a plain read
 *   plus a durable `writeFileAtomic` of the same file, interleaved and
 *   paired in one process (`_measure.ts`); the same for the sync API;
 * - contended: the update rate of 6 processes on one file against one
 *   process doing the same number of updates alone, with the async API and
 *   with the sync API, in alternating rounds (the ratio is the median of
 *   the rounds'); every worker first makes updates of a warm-up file shared
 *   by its group, all the group's workers at once, so that rates compare
 *   processes in their steady state, not their start-up: compiling the
 *   library's code cost a 50-update worker more than its waiting did, and
 *   a warm-up alone left the code of waiting to be compiled while measured
 *   (6 Node workers spent 7.8 ms of CPU per update on their first 50
 *   contended updates, 5.5 ms on the next 50);
 * - hand-over: with 6 processes taking the lock in turn (`lockFile`, then a
 *   durable 1 KiB read-modify-write, then `release`), the time from one
 *   holder starting its release to the next holder, another process, having
 *   the lock; median and p99. A process that takes its own lock again next
 *   hands nothing over: those re-takes are counted apart, not timed.
 *
 * Run with Node 24: `node bench/lock.ts [--quick] [--runtimes=deno,bun,node]`
 * or `npm run bench:lock`; writes `bench/LOCK_RESULTS.md`. Workers are this
 * same file, started with `--worker=…` on each runtime.
 *
 * @module
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  lockFile,
  lockFileSync,
  updateFileAtomic,
  updateFileAtomicSync,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../mod.ts";
import { measure, median, pairedRatio } from "./_measure.ts";
import { runtimeName, runtimeVersion } from "./_floor.ts";
import { commitOf, loadAverage } from "./_provenance.ts";
import { commandFor } from "../tests/_lock_fixtures.ts";

const here = fileURLToPath(import.meta.url);
const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = "true"] = arg.replace(/^--/, "").split("=");
    return [key, value];
  }),
);
const quick = args.has("quick");
/** Updates each worker makes of its own file before the measured ones. */
const WARM_UP = quick ? 20 : 50;
/** Rounds of "one process alone, then 6" for each API. */
const ROUNDS = quick ? 1 : 3;
const KIB = new Uint8Array(1024).fill(120);
const cell = new Int32Array(new SharedArrayBuffer(4));

/** The time now, comparable across processes on this machine, in ms. */
function wallMs(): number {
  return performance.timeOrigin + performance.now();
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function waitForFile(file: string): void {
  while (!fs.existsSync(file)) Atomics.wait(cell, 0, 0, 1);
}

// ---------------------------------------------------------------- workers

/**
 * The lock protocol's core system calls around an uncontended update, made
 * directly with `node:fs` and nothing else (no record built, no judgement,
 * no exit hook): the holder's own file created with O_EXCL, its record
 * written, its `lstat` and its link to the lock's name; then, once the
 * caller's work is done, the look at the lock before the commit and the
 * removal of both names. Returns the second half. The real lock also makes
 * an `lstat` of the target, a `stat` of its directory, reads the user and
 * group ids and `fchmod`s the holder's file, which this leaves out: around a
 * read and a durable `writeFileAtomicSync`, it is a floor below what the
 * kernel charges for the lock as built, for `updateFileAtomicSync`'s ratio.
 */
function protocolCalls(target: string): () => void {
  const dir = path.dirname(target);
  const lock = path.join(dir, `.${path.basename(target)}.atomic-lock`);
  const own = path.join(
    dir,
    `..${path.basename(target)}.atomic-lock.floor-${process.pid}.atomic-tmp`,
  );
  const fd = fs.openSync(own, "wx", 0o644);
  fs.writeSync(fd, RECORD);
  fs.lstatSync(own);
  fs.linkSync(own, lock);
  return () => {
    fs.lstatSync(lock);
    fs.unlinkSync(lock);
    fs.unlinkSync(own);
    fs.closeSync(fd);
  };
}
/** A lock record's size (a real one is about 320 bytes). */
const RECORD = new Uint8Array(320).fill(120);

async function uncontended(dir: string): Promise<void> {
  const target = path.join(dir, "u.json");
  fs.writeFileSync(target, KIB);
  const plan = quick
    ? { sampleMs: 100, rounds: 5, maxOps: 50 }
    : { sampleMs: 300, rounds: 15, maxOps: 200 };
  const asyncSamples = await measure([
    {
      name: "read + writeFileAtomic",
      run: async () => {
        await fs.promises.readFile(target);
        await writeFileAtomic(target, KIB);
      },
    },
    {
      name: "updateFileAtomic",
      run: async () => {
        await updateFileAtomic(target, () => KIB);
      },
    },
  ], plan);
  const syncSamples = await measure([
    {
      name: "readFileSync + writeFileAtomicSync",
      run: () => {
        fs.readFileSync(target);
        writeFileAtomicSync(target, KIB);
      },
    },
    {
      name: "updateFileAtomicSync",
      run: () => {
        updateFileAtomicSync(target, () => KIB);
      },
    },
    {
      name: "protocol floor",
      run: () => {
        const release = protocolCalls(target);
        fs.readFileSync(target);
        writeFileAtomicSync(target, KIB);
        release();
      },
    },
  ], plan);
  const perOp = (s: typeof asyncSamples, name: string) =>
    median(s.seconds[name]) * 1000;
  console.log(JSON.stringify({
    runtime: runtimeVersion(),
    async: {
      ratio: 1 /
        pairedRatio(asyncSamples, "updateFileAtomic", "read + writeFileAtomic"),
      oursMs: perOp(asyncSamples, "updateFileAtomic"),
      baseMs: perOp(asyncSamples, "read + writeFileAtomic"),
    },
    sync: {
      ratio: 1 /
        pairedRatio(
          syncSamples,
          "updateFileAtomicSync",
          "readFileSync + writeFileAtomicSync",
        ),
      oursMs: perOp(syncSamples, "updateFileAtomicSync"),
      baseMs: perOp(syncSamples, "readFileSync + writeFileAtomicSync"),
      floor: 1 /
        pairedRatio(
          syncSamples,
          "protocol floor",
          "readFileSync + writeFileAtomicSync",
        ),
    },
  }));
}

/**
 * The reference for the contended rate, on Deno only: the kernel's own
 * lock, `flock(2)` (`Deno.FsFile.lock`), on `${file}.flock`, around a read
 * and a durable `writeFileAtomic`, the work of an update. A waiter sleeps in
 * the kernel and is woken by the unlock itself, with no file-system round
 * trip and no line to keep: no lock of files and names can hand over
 * faster, so its rate bounds what the lock can reach on this machine. (It
 * is not the library's lock: it cannot be taken from Node, and does not
 * survive on network file systems.)
 */
async function kernelLock(file: string): Promise<{
  update: (
    target: string,
    next: (c: Uint8Array | null) => string,
  ) => Promise<void>;
  updateSync: (
    target: string,
    next: (c: Uint8Array | null) => string,
  ) => void;
  close: () => void;
}> {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (!deno) throw new Error("the flock reference runs on Deno only");
  const handle = await deno.open(`${file}.flock`, {
    create: true,
    write: true,
  });
  return {
    update: async (target, next) => {
      await handle.lock(true);
      try {
        const current = await fs.promises.readFile(target).catch((error) => {
          if (error?.code === "ENOENT") return null;
          throw error;
        });
        await writeFileAtomic(target, next(current));
      } finally {
        await handle.unlock();
      }
    },
    updateSync: (target, next) => {
      handle.lockSync(true);
      try {
        let current: Uint8Array | null = null;
        try {
          current = fs.readFileSync(target);
        } catch (error) {
          if ((error as { code?: string })?.code !== "ENOENT") throw error;
        }
        writeFileAtomicSync(target, next(current));
      } finally {
        handle.unlockSync();
      }
    },
    close: () => handle.close(),
  };
}

/** `n` updates (sync, async or under flock) after the go file appears; prints start, end and hold intervals. */
async function worker(
  kind: "rate" | "handover",
  target: string,
  n: number,
  api: string,
  go: string,
): Promise<void> {
  const next = (c: Uint8Array | null) => {
    const v = c === null ? 0 : Number(new TextDecoder().decode(c).slice(0, 12));
    return String(v + 1).padEnd(1024, " ");
  };
  // Warm-up, with the group's other workers on a file of the group's own,
  // started together: the code paths the measured updates take, waiting
  // included where they wait.
  const warm = `${target}.warm`;
  const flock = api.startsWith("flock");
  console.log("loaded");
  waitForFile(`${go}.warm`);
  const kernel = flock ? await kernelLock(warm) : null;
  for (let i = 0; i < WARM_UP; i++) {
    if (kernel && api === "flock-sync") kernel.updateSync(warm, next);
    else if (kernel) await kernel.update(warm, next);
    else if (api === "sync") updateFileAtomicSync(warm, next);
    else await updateFileAtomic(warm, next);
  }
  kernel?.close();
  const shared = flock ? await kernelLock(target) : null;
  console.log("ready");
  waitForFile(go);
  const start = wallMs();
  const cpuBefore = process.cpuUsage();
  const holds: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    if (kind === "rate") {
      if (shared && api === "flock-sync") shared.updateSync(target, next);
      else if (shared) await shared.update(target, next);
      else if (api === "sync") updateFileAtomicSync(target, next);
      else await updateFileAtomic(target, next);
    } else if (api === "sync") {
      const lock = lockFileSync(target);
      const acquired = wallMs();
      writeFileAtomicSync(target, next(fs.readFileSync(target)));
      holds.push([acquired, wallMs()]);
      lock.releaseSync();
    } else {
      const lock = await lockFile(target);
      const acquired = wallMs();
      await writeFileAtomic(target, next(await fs.promises.readFile(target)));
      holds.push([acquired, wallMs()]);
      await lock.release();
    }
  }
  const cpu = process.cpuUsage(cpuBefore);
  shared?.close();
  console.log(JSON.stringify({
    start,
    end: wallMs(),
    holds,
    cpuMs: (cpu.user + cpu.system) / 1000,
  }));
}

// ------------------------------------------------------------ orchestrator

interface WorkerOut {
  start: number;
  end: number;
  holds: [number, number][];
  /** CPU time of the whole process (all its threads) while it worked, in ms. */
  cpuMs: number;
}

/** A worker process: `said(line)` resolves once it has printed `line`; `out` is all it printed. */
function run(cmd: string[]): {
  said: (line: string) => Promise<void>;
  out: Promise<string>;
} {
  const child = spawn(cmd[0], cmd.slice(1), {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let text = "";
  const waits: { line: string; resolve: () => void }[] = [];
  const settleWaits = () => {
    for (const w of waits.splice(0)) {
      if (text.includes(`${w.line}\n`)) w.resolve();
      else waits.push(w);
    }
  };
  const said = (line: string) =>
    new Promise<void>((resolve) => {
      waits.push({ line, resolve });
      settleWaits();
    });
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    text += chunk;
    settleWaits();
  });
  const out = new Promise<string>((resolve, reject) =>
    child.on("close", (code) => {
      if (code === 0) resolve(text);
      else reject(new Error(`${cmd.join(" ")} exited with ${code}`));
    })
  );
  return { said, out };
}

function lastJson<T>(text: string): T {
  const lines = text.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

/** Runs `apis.length` workers of `kind` on `runtime`, `n` updates each, released at once. */
async function group(
  runtime: "deno" | "bun" | "node",
  kind: "rate" | "handover",
  apis: string[],
  n: number,
): Promise<WorkerOut[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atomic-lock-bench-"));
  try {
    const target = path.join(dir, "n.txt");
    fs.writeFileSync(target, "0".padEnd(1024, " "));
    const go = path.join(dir, "go");
    const workers = apis.map((api) =>
      run(commandFor(runtime, here, [
        `--worker=${kind}`,
        target,
        String(n),
        api,
        go,
      ]))
    );
    await Promise.all(workers.map((w) => w.said("loaded")));
    fs.writeFileSync(`${go}.warm`, "");
    await Promise.all(workers.map((w) => w.said("ready")));
    fs.writeFileSync(go, "");
    const outs = await Promise.all(workers.map((w) => w.out));
    const final = Number(fs.readFileSync(target, "utf8").trim());
    if (final !== n * apis.length) {
      throw new Error(`lost updates: ${final} of ${n * apis.length}`);
    }
    return outs.map((o) => lastJson<WorkerOut>(o));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function rate(outs: WorkerOut[], updates: number): number {
  const start = Math.min(...outs.map((o) => o.start));
  const end = Math.max(...outs.map((o) => o.end));
  return updates / ((end - start) / 1000);
}

/** The CPU time all workers spent per update, in ms: waiting costs CPU too. */
function cpuPerUpdate(outs: WorkerOut[], updates: number): number {
  return outs.reduce((sum, o) => sum + o.cpuMs, 0) / updates;
}

/** One hold of the lock, tagged with the worker that held it. */
interface Hold {
  worker: number;
  acquired: number;
  released: number;
}

/**
 * The hand-overs of a run: the gaps between one holder's release starting
 * and the next holder having the lock, where the next holder is another
 * process; and the number of holds that were the same process taking its
 * own lock again (no hand-over: they are not timed).
 */
function handovers(outs: WorkerOut[]): { gaps: number[]; retakes: number } {
  const holds: Hold[] = outs
    .flatMap((o, worker) =>
      o.holds.map(([acquired, released]) => ({ worker, acquired, released }))
    )
    .sort((a, b) => a.acquired - b.acquired);
  const gaps: number[] = [];
  let retakes = 0;
  for (let i = 1; i < holds.length; i++) {
    if (holds[i].worker === holds[i - 1].worker) retakes++;
    else gaps.push(holds[i].acquired - holds[i - 1].released);
  }
  return { gaps, retakes };
}

/** One round of the contended comparison: rates and CPU per update. */
interface Round {
  alone: number;
  many: number;
  aloneCpu: number;
  manyCpu: number;
}

/** The median round's figures, the median ratio, and the spread of the ratios. */
function describeRounds(rounds: Round[]): string {
  const ratios = rounds.map((r) => r.many / r.alone);
  const sorted = [...rounds].sort((a, b) =>
    a.many / a.alone - b.many / b.alone
  );
  const mid = sorted[Math.floor(sorted.length / 2)];
  const spread = rounds.length > 1
    ? ` (rounds ${Math.min(...ratios).toFixed(2)}–${
      Math.max(...ratios).toFixed(2)
    })`
    : "";
  return `${mid.alone.toFixed(0)}/s → ${mid.many.toFixed(0)}/s: **${
    (mid.many / mid.alone).toFixed(2)
  }×**${spread}; CPU ${mid.aloneCpu.toFixed(1)} → ${
    mid.manyCpu.toFixed(1)
  } ms/update`;
}

async function orchestrate(): Promise<void> {
  const runtimes = (args.get("runtimes") ?? "deno,bun,node").split(",") as (
    | "deno"
    | "bun"
    | "node"
  )[];
  const n = quick ? 10 : 50;
  const six = ["async", "async", "async", "sync", "sync", "sync"];
  const rows: string[] = [];
  const handRows: string[] = [];
  let reference = "";
  const commit = commitOf(path.dirname(here));
  const loadBefore = loadAverage();
  for (const runtime of runtimes) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atomic-lock-bench-"));
    let u;
    try {
      u = lastJson<{
        runtime: string;
        async: { ratio: number; oursMs: number; baseMs: number };
        sync: {
          ratio: number;
          oursMs: number;
          baseMs: number;
          floor: number;
        };
      }>(
        await run(commandFor(runtime, here, ["--worker=uncontended", dir])).out,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const contended: string[] = [];
    for (
      const api of [
        "async",
        "sync",
        ...(runtime === "deno" ? ["flock", "flock-sync"] : []),
      ]
    ) {
      const rounds: Round[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        const aloneOuts = await group(runtime, "rate", [api], 6 * n);
        const manyOuts = await group(runtime, "rate", Array(6).fill(api), n);
        rounds.push({
          alone: rate(aloneOuts, 6 * n),
          many: rate(manyOuts, 6 * n),
          aloneCpu: cpuPerUpdate(aloneOuts, 6 * n),
          manyCpu: cpuPerUpdate(manyOuts, 6 * n),
        });
      }
      contended.push(describeRounds(rounds));
    }
    const { gaps, retakes } = handovers(
      await group(runtime, "handover", six, n),
    );
    const row = `| ${u.runtime} | ${u.async.oursMs.toFixed(2)} ms vs ${
      u.async.baseMs.toFixed(2)
    } ms: **${u.async.ratio.toFixed(2)}×** | ${
      u.sync.oursMs.toFixed(2)
    } ms vs ${u.sync.baseMs.toFixed(2)} ms: **${
      u.sync.ratio.toFixed(2)
    }×** (floor ${u.sync.floor.toFixed(2)}×) | ${contended[0]} | ${
      contended[1]
    } |`;
    const hand = `| ${u.runtime} | ${gaps.length} | ${retakes} | ${
      (median(gaps) * 1000).toFixed(0)
    } µs | ${(percentile(gaps, 0.99) * 1000).toFixed(0)} µs |`;
    if (contended[2]) {
      reference =
        `The same contention on ${u.runtime}, serialised instead by ` +
        "the kernel's `flock(2)` (`Deno.FsFile.lock`) around a read and a " +
        "durable `writeFileAtomic`: a waiter sleeps in the kernel and is " +
        "woken by the unlock itself, so no lock of files can hand over " +
        `faster (the bound for the goal on this machine): async ${
          contended[2]
        }; sync (\`lockSync\`, \`writeFileAtomicSync\`) ${contended[3]}.`;
      console.log(reference);
    }
    console.log(row);
    console.log(hand);
    rows.push(row);
    handRows.push(hand);
  }
  const md = [
    "# Lock benchmark",
    "",
    `Generated by \`node bench/lock.ts${
      quick ? " --quick" : ""
    }\` on ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "unknown"}), ${
      new Date().toISOString()
    };`,
    `code: ${commit}; load average ${loadBefore} before the run, ${loadAverage()} after it`,
    "(on a busy machine the ratios are noisy).",
    "",
    "Uncontended: one 1 KiB update against a plain read plus a durable",
    "`writeFileAtomic` of the same file (interleaved, paired; the ratio is the",
    "median of the per-round ratios, lower is better, the goal is ≤ 1.25×).",
    "The sync column's floor is the lock's core system calls (create, write,",
    "lstat, link; look, unlink twice, close), made directly around the same",
    "read and write and measured alongside; the real lock also makes an lstat",
    "of the target, a stat of its directory, reads the user and group ids and",
    "fchmods its file, so the floor is below what the lock as built costs.",
    "Contended: the update rate of one process alone, then of 6 processes",
    "doing the same number of updates in all, with the same API (higher is",
    "better, the goal is ≥ 0.8×), and the CPU time all processes spent per",
    "update (waiting costs CPU: on 2 cores it is taken from the holder).",
    `Each worker first makes ${WARM_UP} updates of a warm-up file, with the same`,
    "contention as the measured ones (alone, or all 6 at once), so that rates",
    `compare steady states; ${ROUNDS} alternating round(s) of one process then 6;`,
    "the median round is shown.",
    "",
    "| runtime | updateFileAtomic vs read + writeFileAtomic | updateFileAtomicSync vs readFileSync + writeFileAtomicSync | async: 1 process → 6 | sync: 1 process → 6 |",
    "|---|---|---|---|---|",
    ...rows,
    ...(reference ? ["", reference] : []),
    "",
    "Hand-over: from one holder starting `release()` to the next holder's",
    "`lockFile()` resolving, 6 processes (3 async, 3 sync) in turn, where",
    "the next holder is another process (median and p99 over those gaps).",
    "A process that took its own lock again next handed nothing over: those",
    "re-takes are counted, not timed.",
    "",
    "| runtime | hand-overs (to another process) | re-takes (same process) | median | p99 |",
    "|---|---:|---:|---:|---:|",
    ...handRows,
    "",
  ].join("\n");
  fs.writeFileSync(path.join(path.dirname(here), "LOCK_RESULTS.md"), md);
  console.log(`wrote bench/LOCK_RESULTS.md (${runtimeName()} orchestrator)`);
}

const mode = args.get("worker");
if (mode === "uncontended") {
  await uncontended(process.argv[3]);
} else if (mode === "rate" || mode === "handover") {
  const [target, n, api, go] = process.argv.slice(3);
  await worker(mode, target, Number(n), api, go);
} else {
  await orchestrate();
}
