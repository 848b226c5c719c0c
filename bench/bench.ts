/**
 * The benchmark of @x/atomic against the system-call floor and the npm peers
 * (`write-file-atomic`, `atomically`, `steno`), runnable unchanged on Deno,
 * Bun and Node 24. Run everything with `npm run bench` (`bench/run.sh`).
 *
 * Modes:
 * - no argument: runs every case on this runtime, prints a table and saves
 *   the samples to `bench/.tmp/results-<runtime>.json`;
 * - `--memory`: writes a 1 GiB `ReadableStream` with `writeFileAtomic` and
 *   saves the peak RSS growth to `bench/.tmp/memory-<runtime>.json` (run in
 *   a fresh process so that RSS is clean);
 * - `--report`: turns the saved files into `bench/RESULTS.md`.
 *
 * `--quick` runs fewer, shorter rounds (a smoke test, not a measurement);
 * `--only=<text>` runs only the cases whose name contains the text.
 *
 * @module
 */
import fs from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import * as atomically from "atomically";
import { Writer as StenoWriter } from "steno";
import writeFileAtomicPeer from "write-file-atomic";
import { AtomicWriter, writeFileAtomic, writeFileAtomicSync } from "../mod.ts";
import {
  type AsyncWrite,
  floorFor,
  runtimeName,
  runtimeVersion,
  type SyncWrite,
} from "./_floor.ts";
import {
  type Contender,
  measure,
  median,
  pairedRatio,
  type Plan,
  type Samples,
} from "./_measure.ts";
import { commitOf, loadAverage } from "./_provenance.ts";
import { type CaseResult, type MemoryResult, report } from "./_report.ts";

const KIB = 1024;
const MIB = 1024 * KIB;
const benchDir = dirname(fileURLToPath(import.meta.url));
const workDir = join(benchDir, ".tmp");
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const only = args.find((arg) => arg.startsWith("--only="))?.slice(7);
const runtime = runtimeName();

/** The names of the contenders, as they appear in tables. */
export const OURS = "ours";
export const FLOOR = "floor";
export const FLOOR_NODE = "floor node:fs";
export const WFA = "write-file-atomic";
export const ATOMICALLY = "atomically";
export const STENO = "steno";
export const PLAIN = "writeFile";

interface Case {
  name: string;
  /** Bytes per write. */
  size: number;
  fsync: boolean;
  /** How writes are issued: one after another, 100 at once to one path or to 100 paths, or with the sync API. */
  shape: "sequential" | "same path ×100" | "100 paths" | "sync" | "burst ×100";
  plan: Plan;
}

function sizeName(bytes: number): string {
  return bytes >= MIB ? `${bytes / MIB} MiB` : `${bytes / KIB} KiB`;
}

function plans(size: number, shape: Case["shape"]): Plan {
  const scale = quick ? 0.25 : 1;
  const rounds = quick ? 3 : size >= 64 * MIB ? 5 : size >= MIB ? 7 : 9;
  if (size >= 64 * MIB) return { sampleMs: 1, rounds, maxOps: 1 };
  if (shape !== "sequential" && shape !== "sync") {
    return { sampleMs: 200 * scale, rounds, maxOps: 20 };
  }
  return { sampleMs: (size >= MIB ? 150 : 100) * scale, rounds, maxOps: 2000 };
}

function cases(): Case[] {
  const list: Case[] = [];
  const add = (size: number, shape: Case["shape"], fsync: boolean) => {
    const name = `${shape === "sync" ? "sync " : ""}${
      shape === "sequential" || shape === "sync" ? "" : `${shape} `
    }${sizeName(size)}${fsync ? " durable" : ""}`;
    list.push({ name, size, fsync, shape, plan: plans(size, shape) });
  };
  for (const fsync of [false, true]) {
    for (const size of [KIB, 64 * KIB, MIB, 64 * MIB]) {
      add(size, "sequential", fsync);
    }
  }
  for (const fsync of [false, true]) {
    add(KIB, "same path ×100", fsync);
    add(KIB, "100 paths", fsync);
  }
  for (const fsync of [false, true]) add(KIB, "burst ×100", fsync);
  for (const fsync of [false, true]) {
    add(KIB, "sync", fsync);
    add(MIB, "sync", fsync);
  }
  return only ? list.filter((c) => c.name.includes(only)) : list;
}

function content(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = 97 + (i % 26);
  return bytes;
}

/** The asynchronous writers of a case, by contender name. */
function asyncWriters(fsync: boolean): Map<string, AsyncWrite> {
  const floor = floorFor();
  const writers = new Map<string, AsyncWrite>();
  const ourOptions = fsync ? undefined : { fsync: false };
  writers.set(OURS, (path, bytes) => writeFileAtomic(path, bytes, ourOptions));
  writers.set(FLOOR, floor.atomic(fsync));
  if (runtime === "deno") {
    writers.set(FLOOR_NODE, floorFor("node").atomic(fsync));
  }
  writers.set(
    WFA,
    (path, bytes) => writeFileAtomicPeer(path, bytes, { fsync }),
  );
  writers.set(
    ATOMICALLY,
    (path, bytes) => atomically.writeFile(path, bytes, { fsync }),
  );
  if (!fsync) {
    // steno never fsyncs: it is only compared where we do not either.
    const stenos = new Map<string, StenoWriter>();
    writers.set(STENO, (path, bytes) => {
      let writer = stenos.get(path);
      if (!writer) stenos.set(path, writer = new StenoWriter(path));
      return writer.write(bytes as unknown as string);
    });
    writers.set(PLAIN, floor.plain);
  }
  return writers;
}

function syncWriters(fsync: boolean): Map<string, SyncWrite> {
  const floor = floorFor();
  const writers = new Map<string, SyncWrite>();
  const ourOptions = fsync ? undefined : { fsync: false };
  writers.set(
    OURS,
    (path, bytes) => writeFileAtomicSync(path, bytes, ourOptions),
  );
  writers.set(FLOOR, floor.atomicSync(fsync));
  if (runtime === "deno") {
    writers.set(FLOOR_NODE, floorFor("node").atomicSync(fsync));
  }
  writers.set(
    WFA,
    (path, bytes) => writeFileAtomicPeer.sync(path, bytes, { fsync }),
  );
  writers.set(
    ATOMICALLY,
    (path, bytes) => atomically.writeFileSync(path, bytes, { fsync }),
  );
  if (!fsync) writers.set(PLAIN, floor.plainSync);
  return writers;
}

/** The contenders of `c`, the floor first; each writes in a directory of its own. */
function contenders(c: Case, caseDir: string): Contender[] {
  const bytes = content(c.size);
  const list: Contender[] = [];
  const dirFor = (name: string) => {
    const dir = join(caseDir, name.replace(/[^a-z0-9]+/gi, "-"));
    fs.mkdirSync(dir, { recursive: true });
    return dir;
  };
  if (c.shape === "burst ×100") {
    // A coalescing writer against steno: 100 writes to one path issued at
    // once, each awaited; the floor writes all 100 (no coalescing).
    const batch = new Array<number>(100).fill(0);
    const floor = floorFor().atomic(c.fsync);
    const floorPath = join(dirFor(FLOOR), "target.bin");
    const writer = new AtomicWriter(
      join(dirFor(OURS), "target.bin"),
      { fsync: c.fsync },
    );
    list.push(
      {
        name: FLOOR,
        run: () => Promise.all(batch.map(() => floor(floorPath, bytes))).then(),
      },
      {
        name: OURS,
        run: () => Promise.all(batch.map(() => writer.write(bytes))).then(),
      },
    );
    if (!c.fsync) {
      const steno = new StenoWriter(join(dirFor(STENO), "target.bin"));
      list.push({
        name: STENO,
        run: () =>
          Promise.all(batch.map(() => steno.write(bytes as unknown as string)))
            .then(),
      });
    }
  } else if (c.shape === "sync") {
    for (const [name, write] of syncWriters(c.fsync)) {
      const path = join(dirFor(name), "target.bin");
      list.push({ name, run: () => write(path, bytes) });
    }
  } else {
    for (const [name, write] of asyncWriters(c.fsync)) {
      const dir = dirFor(name);
      const path = join(dir, "target.bin");
      if (c.shape === "sequential") {
        list.push({ name, run: () => write(path, bytes) });
      } else if (c.shape === "same path ×100") {
        const batch = new Array<number>(100).fill(0);
        list.push({
          name,
          run: () => Promise.all(batch.map(() => write(path, bytes))).then(),
        });
      } else {
        const paths = Array.from({ length: 100 }, (_, i) => join(dir, `f${i}`));
        list.push({
          name,
          run: () => Promise.all(paths.map((p) => write(p, bytes))).then(),
        });
      }
    }
  }
  const floorIndex = list.findIndex((entry) => entry.name === FLOOR);
  list.unshift(...list.splice(floorIndex, 1));
  return list;
}

/** Writes per operation of a case (a concurrent batch counts 100). */
function writesPerOp(c: Case): number {
  return c.shape === "sync" || c.shape === "sequential" ? 1 : 100;
}

function summarize(c: Case, samples: Samples): CaseResult {
  const names = Object.keys(samples.seconds);
  const writesPerSecond: Record<string, number> = {};
  const ratios: Record<string, number> = {};
  for (const name of names) {
    writesPerSecond[name] = writesPerOp(c) / median(samples.seconds[name]);
    if (name !== OURS) ratios[name] = pairedRatio(samples, OURS, name);
  }
  return {
    name: c.name,
    size: c.size,
    fsync: c.fsync,
    shape: c.shape,
    ops: samples.ops,
    rounds: c.plan.rounds,
    writesPerSecond,
    ratios,
    seconds: samples.seconds,
  };
}

async function runCases(): Promise<void> {
  const runDir = join(workDir, `${runtime}-${process.pid}`);
  const results: CaseResult[] = [];
  const commit = commitOf(benchDir);
  const loadBefore = loadAverage();
  const started = performance.now();
  console.log(
    `# ${runtimeVersion()}: ours / reference (median of paired ratios; above 1 = ours faster)`,
  );
  for (const [index, c] of cases().entries()) {
    const caseDir = join(runDir, String(index));
    try {
      const samples = await measure(contenders(c, caseDir), c.plan);
      const result = summarize(c, samples);
      results.push(result);
      const cells = Object.entries(result.ratios).map(([name, ratio]) =>
        `${name} ${ratio.toFixed(2)}`
      );
      console.log(
        `${c.name.padEnd(28)} ${
          Math.round(result.writesPerSecond[OURS]).toString().padStart(6)
        } w/s  ${cells.join("  ")}`,
      );
    } finally {
      fs.rmSync(caseDir, { recursive: true, force: true });
    }
  }
  fs.rmSync(runDir, { recursive: true, force: true });
  const file = join(workDir, `results-${runtime}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        runtime: runtimeVersion(),
        floorApi: floorFor().api,
        date: new Date().toISOString(),
        commit,
        loadBefore,
        loadAfter: loadAverage(),
        seconds: (performance.now() - started) / 1000,
        quick,
        results,
      },
      null,
      1,
    ),
  );
  console.log(`saved ${file}`);
}

function statusKib(field: string): number {
  const status = fs.readFileSync("/proc/self/status", "utf8");
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  return match ? Number(match[1]) : NaN;
}

/**
 * Writes a 1 GiB stream of fresh 1 MiB chunks with `writeFileAtomic` (or,
 * with `--memory=floor`, with the hand-written floor, to tell our memory from
 * the runtime's and the producer's) and records the peak RSS growth.
 */
async function runMemory(who: "ours" | "floor"): Promise<void> {
  const total = (quick ? 64 : 1024) * MIB;
  const chunk = MIB;
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) return controller.close();
      // A fresh, touched chunk each time, as a real producer would make.
      controller.enqueue(new Uint8Array(chunk).fill(sent / chunk & 0xff));
      sent += chunk;
    },
  }, { highWaterMark: 0 });
  fs.mkdirSync(workDir, { recursive: true });
  const path = join(workDir, `stream-${runtime}-${process.pid}.bin`);
  // Reset the kernel's peak-RSS mark (VmHWM) to the current RSS.
  fs.writeFileSync("/proc/self/clear_refs", "5");
  const baseline = statusKib("VmRSS");
  const start = performance.now();
  try {
    if (who === "ours") await writeFileAtomic(path, stream);
    else await floorFor().stream(path, stream);
  } finally {
    fs.rmSync(path, { force: true });
  }
  const seconds = (performance.now() - start) / 1000;
  const peak = statusKib("VmHWM");
  const result: MemoryResult = {
    runtime: runtimeVersion(),
    who,
    bytes: total,
    seconds,
    baselineMib: baseline / 1024,
    peakMib: peak / 1024,
    growthMib: (peak - baseline) / 1024,
  };
  fs.writeFileSync(
    join(workDir, `memory-${who}-${runtime}.json`),
    JSON.stringify(result, null, 1),
  );
  console.log(
    `# ${result.runtime}: ${who}, ${
      total / MIB
    } MiB stream, durable: peak RSS growth ${
      result.growthMib.toFixed(1)
    } MiB (${result.baselineMib.toFixed(0)} → ${
      result.peakMib.toFixed(0)
    } MiB), ${(total / MIB / seconds).toFixed(0)} MiB/s`,
  );
}

fs.mkdirSync(workDir, { recursive: true });
if (args.includes("--report")) {
  report(workDir, join(benchDir, "RESULTS.md"));
} else if (args.includes("--memory")) {
  await runMemory("ours");
} else if (args.includes("--memory=floor")) {
  await runMemory("floor");
} else {
  await runCases();
}
