/**
 * Turns the saved runs of every runtime into `bench/RESULTS.md`: the machine,
 * the runtimes, one table of ratios per runtime and the issue's targets.
 */
import fs from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";

/** What one case measured on one runtime. */
export interface CaseResult {
  name: string;
  size: number;
  fsync: boolean;
  shape: string;
  /** Operations per sample. */
  ops: number;
  rounds: number;
  /** Median writes per second, by contender. */
  writesPerSecond: Record<string, number>;
  /** Ours relative to each other contender (median of paired ratios; above 1: ours faster). */
  ratios: Record<string, number>;
  /** Seconds per operation, by contender, one per round. */
  seconds: Record<string, number[]>;
}

/** What the 1 GiB stream run measured on one runtime. */
export interface MemoryResult {
  runtime: string;
  who: "ours" | "floor";
  bytes: number;
  seconds: number;
  baselineMib: number;
  peakMib: number;
  growthMib: number;
}

interface Run {
  runtime: string;
  floorApi: string;
  /** When the run ended. */
  date: string;
  /** The code measured: `git rev-parse --short HEAD`, `+dirty` if changed. */
  commit?: string;
  /** One-minute load average before and after the run. */
  loadBefore?: string;
  loadAfter?: string;
  seconds: number;
  quick: boolean;
  results: CaseResult[];
}

const RUNTIMES = ["deno", "bun", "node"];
const COLUMNS = [
  "floor",
  "floor node:fs",
  "write-file-atomic",
  "atomically",
  "steno",
  "writeFile",
];

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(path, "utf8")) as T;
  } catch {
    return null;
  }
}

/** The file system holding `dir`, from the longest matching mount point. */
function fileSystemOf(dir: string): string {
  const target = resolve(dir);
  let best = { point: "", text: "unknown" };
  for (const line of fs.readFileSync("/proc/mounts", "utf8").split("\n")) {
    const [source, point, type] = line.split(" ");
    if (!point) continue;
    const inside = target === point ||
      target.startsWith(point.endsWith("/") ? point : point + "/");
    if (inside && point.length >= best.point.length) {
      best = { point, text: `${type} (${source} on ${point})` };
    }
  }
  return best.text;
}

function cpuModel(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model?.trim() || "unknown";
  return `${model}, ${cpus.length} logical cores`;
}

function ratio(value: number | undefined): string {
  return value === undefined || Number.isNaN(value) ? "—" : value.toFixed(2);
}

function table(run: Run): string[] {
  const present = COLUMNS.filter((column) =>
    run.results.some((r) => r.ratios[column] !== undefined)
  );
  const lines = [
    `| case | ours writes/s | ${
      present.map((c) => `ours / ${c}`).join(" | ")
    } |`,
    `|---|--:|${present.map(() => "--:").join("|")}|`,
  ];
  for (const r of run.results) {
    lines.push(
      `| ${r.name} | ${Math.round(r.writesPerSecond.ours)} | ${
        present.map((c) => ratio(r.ratios[c])).join(" | ")
      } |`,
    );
  }
  return lines;
}

interface Target {
  label: string;
  check: (run: Run, memory: MemoryResult | null) => [number, boolean] | null;
}

function caseRatio(run: Run, name: string, against: string): number | null {
  const value = run.results.find((r) => r.name === name)?.ratios[against];
  return value === undefined ? null : value;
}

function atLeast(name: string, against: string, bound: number): Target {
  return {
    label: `${name}: ours / ${against} ≥ ${bound}`,
    check: (run) => {
      const value = caseRatio(run, name, against);
      return value === null ? null : [value, value >= bound];
    },
  };
}

const TARGETS: Target[] = [
  atLeast("1 KiB", "floor", 0.9),
  atLeast("sync 1 KiB", "floor", 0.9),
  atLeast("1 KiB durable", "floor", 0.9),
  atLeast("sync 1 KiB durable", "floor", 0.9),
  {
    label: "100 paths 1 KiB durable: ours / write-file-atomic > 1",
    check: (run) => {
      const value = caseRatio(
        run,
        "100 paths 1 KiB durable",
        "write-file-atomic",
      );
      return value === null ? null : [value, value > 1];
    },
  },
  atLeast("64 MiB", "floor", 0.95),
  atLeast("64 MiB durable", "floor", 0.95),
  {
    label: "1 GiB stream: peak RSS growth ≤ 64 MiB",
    check: (_run, memory) =>
      memory === null ? null : [memory.growthMib, memory.growthMib <= 64],
  },
];

/** What a run measured, and when: its commit, end and load average. */
function measured(run: Run): string {
  const load = run.loadBefore === undefined
    ? "load average not recorded"
    : `load average ${run.loadBefore} before the run, ${run.loadAfter} after it`;
  return `Code: ${
    run.commit ?? "commit not recorded"
  }; ended ${run.date}; ${load}.`;
}

/** Writes `out` from the runs saved in `workDir` and prints it. */
export function report(workDir: string, out: string): void {
  const runs = new Map<string, Run>();
  const memories = new Map<string, MemoryResult>();
  const floorMemories = new Map<string, MemoryResult>();
  for (const name of RUNTIMES) {
    const run = readJson<Run>(join(workDir, `results-${name}.json`));
    if (run) runs.set(name, run);
    const memory = readJson<MemoryResult>(
      join(workDir, `memory-ours-${name}.json`),
    );
    if (memory) memories.set(name, memory);
    const floor = readJson<MemoryResult>(
      join(workDir, `memory-floor-${name}.json`),
    );
    if (floor) floorMemories.set(name, floor);
  }
  const names = RUNTIMES.filter((name) => runs.has(name));
  const lines = [
    "# Benchmark results",
    "",
    "Written by `npm run bench` (`bench/run.sh`). Each number is ours relative",
    "to a reference: the median, over rounds, of the ratio of the two",
    "throughputs measured in the same process in the same round (contenders",
    "interleaved, order rotating). Above 1: ours is faster. Absolute writes/s",
    "are for context only: on a shared machine they swing between runs.",
    "",
    `- Date: ${new Date().toISOString().slice(0, 10)} (this report)`,
    `- Commit: ${
      [...new Set(names.map((n) => runs.get(n)?.commit ?? "not recorded"))]
        .join(", ")
    }`,
    `- CPU: ${cpuModel()}`,
    `- Kernel: ${os.type()} ${os.release()}`,
    `- File system of the bench directory: ${fileSystemOf(workDir)}`,
    `- Runtimes: ${names.map((n) => runs.get(n)?.runtime).join(", ")}`,
    "",
    "References: **floor** = the bare protocol by hand on the runtime's own",
    "file API (open temp `O_CREAT|O_EXCL`, write, [fsync], close, rename,",
    "[open dir, fsync dir, close]; no look at the target, no chmod);",
    "**floor node:fs** = the same on `node:fs` (Deno only); **writeFile** =",
    "plain non-atomic write. Durable rows: ours and the floor fsync each file",
    "and the directory (the floor the directory once per write, ours once per",
    "group of writes that finish together); `write-file-atomic` and",
    "`atomically` fsync the file only; `steno` and `writeFile` never fsync and",
    "appear in the non-durable rows only. `steno` coalesces concurrent writes",
    "to one path (it writes only the latest), so its `same path ×100` ratio",
    "compares different work. `burst ×100` rows: 100 writes to one path issued",
    "at once through a coalescing writer, each awaited: **ours** there is",
    "`AtomicWriter`, against `steno`'s `Writer`; the floor writes all 100.",
    "",
  ];
  for (const name of names) {
    const run = runs.get(name) as Run;
    lines.push(
      `## ${run.runtime}${run.quick ? " (quick run: not a measurement)" : ""}`,
      "",
      `Floor on ${run.floorApi}; ${run.seconds.toFixed(0)} s. ${measured(run)}`,
      "",
      ...table(run),
      "",
    );
    const memory = memories.get(name);
    const floor = floorMemories.get(name);
    if (memory) {
      lines.push(
        `${
          memory.bytes / 2 ** 20
        } MiB \`ReadableStream\` (fresh 1 MiB chunks), durable, each in a fresh process: peak RSS growth (VmHWM − VmRSS at start) **${
          memory.growthMib.toFixed(1)
        } MiB** with \`writeFileAtomic\` (${memory.baselineMib.toFixed(0)} → ${
          memory.peakMib.toFixed(0)
        } MiB, ${(memory.bytes / 2 ** 20 / memory.seconds).toFixed(0)} MiB/s)${
          floor
            ? `; ${
              floor.growthMib.toFixed(1)
            } MiB with the hand-written floor (${
              (floor.bytes / 2 ** 20 / floor.seconds).toFixed(0)
            } MiB/s)`
            : ""
        }.`,
        "",
      );
    }
  }
  lines.push(
    "## Targets (issue 4)",
    "",
    `| target | ${names.join(" | ")} |`,
    `|---|${names.map(() => ":-:").join("|")}|`,
  );
  for (const target of TARGETS) {
    const cells = names.map((name) => {
      const outcome = target.check(
        runs.get(name) as Run,
        memories.get(name) ?? null,
      );
      if (outcome === null) return "—";
      const [value, met] = outcome;
      return `${value.toFixed(3)} ${met ? "met" : "**missed**"}`;
    });
    lines.push(`| ${target.label} | ${cells.join(" | ")} |`);
  }
  lines.push("");
  const text = lines.join("\n");
  fs.writeFileSync(out, text);
  console.log(text);
}
