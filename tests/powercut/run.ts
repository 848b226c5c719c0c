/**
 * The power-cut suite (issue 11): real file systems, really cut. See
 * README.md beside this file for what it proves and how to rerun one cut.
 *
 * Run with Node 24, as root: `node tests/powercut/run.ts [--quick]
 * [--fs=ext4-ordered,ext4-writeback,xfs] [--runtimes=deno,bun,node]
 * [--writers=writeFileAtomic,…] [--cuts=N] [--seed=N]
 * [--case=FS/RUNTIME/WRITER --cut=K]`, or `npm run test:powercut`.
 * Prints one line per case (and one per violating cut, with the command
 * that replays it), a table per writer, and last `N passed, N failed`;
 * exits non-zero when the library shows any violation, or when the plain
 * `fs.writeFile` control shows none (then the cut is not a power cut).
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { removeStaleTempsSync, updateFileAtomicSync } from "../../mod.ts";
import {
  cleanUpOnExit,
  type LoopMount,
  loopProblem,
  type LoopSpec,
  mountLoop,
} from "../_mounts.ts";
import {
  Child,
  pool,
  readOrNull,
  type Runtime,
  runtimes as allRuntimes,
  sleep,
} from "../torture/_harness.ts";
import {
  checkPayload,
  logSize,
  makePayload,
  prng,
} from "../torture/_payload.ts";
import type { WriterJob } from "./_writer.ts";
import { type Writer, writers as allWriters } from "./_writers.ts";

/** The file systems cut, each on its own loop device. */
const FILE_SYSTEMS: { id: string; spec: LoopSpec }[] = [
  { id: "ext4-ordered", spec: { type: "ext4" } },
  { id: "ext4-writeback", spec: { type: "ext4", options: "data=writeback" } },
  { id: "xfs", spec: { type: "xfs" } },
];
/** Cuts per case: a failure in 1 cut of 20 shows with probability 1 − 0.95⁶⁰ ≈ 95 %. */
const DEFAULT_CUTS = 60;
/** `--quick` (CI): cuts per runtime and file system, spread over the library's writers. */
const QUICK_CUTS = 10;
/** The controls run on Node only: they show what the harness catches, not a runtime's. */
const CONTROL_RUNTIME = "node";
/** The instant of most cuts: 1 ms to 2 s after the first version resolved, log-uniform. */
const MAX_DELAY_MS = 2000;
/**
 * One cut in ten comes 5.5 to 7 s in instead: after ext4's periodic journal
 * commit (every 5 s), so states that only a commit makes durable (a rename
 * whose data is not yet written) can be seen too.
 */
const LATE_SHARE = 0.1;
const LATE_MS = [5500, 7000];
const TARGET = "state.bin";
const writerScript = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "_writer.ts",
);

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = "true"] = arg.replace(/^--/, "").split("=");
    return [key, value];
  }),
);
const quick = args.has("quick");
const seed = Number(args.get("seed") ?? Math.floor(Math.random() * 2 ** 31));

function listArg<T extends { name?: string; id?: string }>(
  key: string,
  all: T[],
  fallback?: string,
): T[] {
  const wanted = args.get(key) ?? fallback;
  if (wanted === undefined) return all;
  const names = wanted.split(",");
  const chosen = all.filter((x) => names.includes((x.name ?? x.id)!));
  if (chosen.length !== names.length) {
    throw new Error(`--${key}=${wanted}: unknown name among ${names}`);
  }
  return chosen;
}

/** One writer on one runtime and file system, and which cuts it gets. */
interface Case {
  id: string;
  fs: string;
  runtime: Runtime;
  writer: Writer;
  cuts: number[];
}

/** What one cut found. */
interface Cut {
  case: Case;
  index: number;
  /** Versions acknowledged before the cut. */
  acked: number;
  /** The version the file holds after the remount, or -1. */
  held: number;
  /** Why the file is not whole (torn, empty, missing), or null. */
  broken: string | null;
  /** The file holds an older version than one acknowledged. */
  lost: boolean;
  /** Files besides the target that `removeStaleTemps` did not remove. */
  stray: string[];
  swept: number;
  /** How long the next update took to take over a lock file the cut left, and whether it was empty; `null` if none was left. */
  takeover: { ms: number; empty: boolean } | null;
}

/**
 * A cut during an update can leave its lock file, and with it empty: the
 * record is not fsynced (that would cost an update a third fsync). The
 * holder's own name for the lock file (a temporary name naming its thread,
 * see `src/_lock_record.ts`) is journaled with the lock's name, so the next
 * update finds that the holder is gone and takes the lock over at once,
 * without waiting for the 10 s lease. It runs before the sweep (which would
 * remove the lock itself), with a timeout above the lease, so a regression
 * shows as a takeover longer than half the lease (a violation; see
 * {@linkcode waitedForLease}), not as a timeout.
 */
function takeOverLeftLock(
  dir: string,
  target: string,
): { ms: number; empty: boolean } | null {
  const lock = fs.readdirSync(dir).find((name) =>
    name.endsWith(".atomic-lock")
  );
  if (lock === undefined) return null;
  const empty = fs.statSync(path.join(dir, lock)).size === 0;
  const started = performance.now();
  updateFileAtomicSync(target, () => undefined, { timeout: 15_000 });
  return { ms: Math.round(performance.now() - started), empty };
}

/** The cases to run: every writer on every runtime and file system. */
function plan(): Case[] {
  const systems = listArg(
    "fs",
    FILE_SYSTEMS,
    quick ? "ext4-ordered,xfs" : undefined,
  );
  const runtimes = listArg("runtimes", allRuntimes);
  const writers = listArg(
    "writers",
    allWriters,
    quick
      ? allWriters.filter((w) =>
        w.library || w.name === "fs.writeFile" || w.name === "fsync-false"
      ).map((w) => w.name).join(",")
      : undefined,
  );
  const cuts = Number(args.get("cuts") ?? DEFAULT_CUTS);
  const cases: Case[] = [];
  for (const { id: fsId } of systems) {
    for (const runtime of runtimes) {
      const mine = writers.filter((w) =>
        w.library || runtime.name === CONTROL_RUNTIME
      );
      const library = mine.filter((w) => w.library);
      for (const writer of mine) {
        const indices = !quick
          ? range(cuts)
          : writer.library
          ? range(QUICK_CUTS).filter((k) =>
            k % library.length === library.indexOf(writer)
          )
          : range(QUICK_CUTS);
        cases.push({
          id: `${fsId}/${runtime.name}/${writer.name}`,
          fs: fsId,
          runtime,
          writer,
          cuts: indices,
        });
      }
    }
  }
  const only = args.get("case");
  if (only === undefined) return cases.filter((c) => c.cuts.length > 0);
  const one = cases.find((c) => c.id === only);
  if (!one) throw new Error(`no case "${only}"`);
  if (args.has("cut")) one.cuts = [Number(args.get("cut"))];
  return [one];
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** The seed of cut `index` of `caseId` (FNV-1a of the run's seed and both). */
function cutSeed(caseId: string, index: number): number {
  let hash = 0x811c9dc5;
  for (const char of `${seed}/${caseId}/${index}`) {
    hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193) >>> 0;
  }
  return hash;
}

/** How long after the first acknowledged version the cut comes. */
function delay(random: () => number): number {
  if (random() < LATE_SHARE) {
    return LATE_MS[0] + random() * (LATE_MS[1] - LATE_MS[0]);
  }
  return logSize(random, 1, MAX_DELAY_MS);
}

/** Writes `bytes` to `file` and makes it and its directory entry durable. */
function writeDurably(file: string, bytes: Uint8Array): void {
  const fd = fs.openSync(file, "w");
  try {
    fs.writeSync(fd, bytes);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  const dir = fs.openSync(path.dirname(file), "r");
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

function lastAck(child: Child): number {
  let last = 0;
  for (const m of child.messages) {
    if (m.type === "ack") last = Math.max(last, m.seq as number);
  }
  return last;
}

/**
 * Waits until every process of `child`'s group is gone, not just its
 * leader: the CLI writer's own child dies a moment later, and until then
 * `removeStaleTemps` rightly keeps its temporary file.
 */
async function groupGone(child: Child): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      process.kill(-child.proc.pid!, 0);
    } catch {
      return; // ESRCH: no process is left in the group
    }
    if (Date.now() > deadline) {
      throw new Error(
        `the writer's process group ${child.proc.pid} outlived SIGKILL by 30 s`,
      );
    }
    await sleep(10);
  }
}

/** Living writers, killed before the mounts are cleaned up on Ctrl-C. */
const living = new Set<Child>();

/**
 * One cut: version 0 made durable, the writer started, the file system shut
 * down at a random instant, the writer killed, the journal replayed; then
 * the file and the directory are looked at.
 */
async function cut(mount: LoopMount, c: Case, index: number): Promise<Cut> {
  const cutRandom = prng(cutSeed(c.id, index));
  const dir = path.join(mount.dir, `cut-${index}`);
  const target = path.join(dir, TARGET);
  fs.mkdirSync(dir);
  writeDurably(target, makePayload("v", 0, 4096));
  const job: WriterJob = {
    target,
    writer: c.writer.name,
    seed: cutSeed(c.id, index),
  };
  const child = new Child(
    [...c.runtime.argv, writerScript, JSON.stringify(job)],
    {},
    true,
  );
  living.add(child);
  let acked: number;
  let shut = false;
  try {
    await child.message("ack", 180_000);
    await sleep(delay(cutRandom));
    acked = lastAck(child); // read before the cut: later acks do not count
    mount.shutdown();
    shut = true;
    child.kill();
    await child.finished();
  } finally {
    child.kill();
    living.delete(child);
    if (!shut) await child.finished();
    await groupGone(child);
  }
  mount.remount();
  const bytes = readOrNull(target);
  let broken: string | null = null;
  let held = -1;
  if (bytes === null) broken = "missing";
  else {
    const check = checkPayload(bytes);
    if (check.ok) held = check.info.seq;
    else broken = check.reason;
  }
  if (held > lastAck(child) + 1) {
    broken = `holds v${held}, but only v${lastAck(child) + 1} was started`;
  }
  const takeover = takeOverLeftLock(dir, target);
  const swept = removeStaleTempsSync(dir, { olderThan: 0 }).length;
  const stray = fs.readdirSync(dir).filter((name) => name !== TARGET);
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    case: c,
    index,
    acked,
    held,
    broken,
    lost: broken === null && held < acked,
    stray,
    swept,
    takeover,
  };
}

function describe(cut: Cut): string {
  const what = [
    cut.broken && `not whole (${cut.broken})`,
    cut.lost && `lost: holds v${cut.held}, v${cut.acked} had resolved`,
    cut.stray.length > 0 && `left ${cut.stray.join(", ")}`,
    waitedForLease(cut) &&
    `the next update waited ${cut.takeover?.ms} ms for the lock left`,
  ].filter(Boolean).join("; ");
  return `cut ${cut.index}: ${what} — rerun: bash .ci/powercut.sh --seed=${seed} --case=${cut.case.id} --cut=${cut.index}`;
}

/**
 * Half the default lease: a takeover that took longer waited for the lease,
 * so the holder's second name did not tell that it was gone (it takes
 * milliseconds when it does).
 */
const TAKEOVER_LIMIT_MS = 5_000;

function waitedForLease(cut: Cut): boolean {
  return (cut.takeover?.ms ?? 0) > TAKEOVER_LIMIT_MS;
}

function violates(cut: Cut): boolean {
  return cut.broken !== null || cut.lost || cut.stray.length > 0 ||
    waitedForLease(cut);
}

const results: Cut[] = [];
const errors: string[] = [];

/** Runs every case of one file system, one cut at a time, on a fresh loop mount. */
async function runFileSystem(fsId: string, cases: Case[]): Promise<void> {
  const spec = FILE_SYSTEMS.find((f) => f.id === fsId)!.spec;
  const mount = mountLoop(`powercut-${fsId}`, spec);
  try {
    for (const c of cases) {
      const started = Date.now();
      const cuts: Cut[] = [];
      try {
        for (const index of c.cuts) cuts.push(await cut(mount, c, index));
      } catch (error) {
        errors.push(`${c.id}: ${(error as Error).message}`);
        console.log(
          `FAIL ${c.id}: the harness failed: ${(error as Error).message}`,
        );
        mount.remount();
        continue;
      } finally {
        results.push(...cuts);
      }
      const bad = cuts.filter(violates);
      const label = !c.writer.library
        ? "CONTROL"
        : bad.length
        ? "FAIL"
        : "PASS";
      const newer = cuts.filter((x) => x.held > x.acked).length;
      const secs = ((Date.now() - started) / 1000).toFixed(0);
      const locks = cuts.flatMap((x) => x.takeover ? [x.takeover] : []);
      const times = locks.map((x) => x.ms).sort((a, b) => a - b);
      const empty = locks.filter((x) => x.empty).length;
      console.log(
        `${label} ${c.id}: ${cuts.length} cuts, ${bad.length} violating; ${
          cuts.reduce((n, x) => n + x.acked, 0)
        } versions acknowledged before the cuts; the file held the in-flight version after ${newer} (${secs} s)${
          locks.length
            ? `; ${locks.length} cuts left a lock file (${empty} empty), taken over by the next update in ${
              times[times.length >> 1]
            } ms (median), ${times[times.length - 1]} ms at most`
            : ""
        }`,
      );
      // Every violation of the library; the first few of a control.
      const shown = c.writer.library ? bad : bad.slice(0, 3);
      for (const x of shown) console.log(`  ${describe(x)}`);
      if (shown.length < bad.length) {
        console.log(`  … and ${bad.length - shown.length} more`);
      }
    }
  } finally {
    mount.remove();
  }
}

/** Per writer and file system: cuts, and how many were torn/empty/missing, lost, or left files. */
function table(): string[] {
  const rows = [
    "| writer | file system | runtimes | cuts | torn, empty or missing | lost an acknowledged write | left files the sweep keeps |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: |",
  ];
  const groups = new Map<string, Cut[]>();
  for (const x of results) {
    const key = `${x.case.writer.name}|${x.case.fs}`;
    groups.set(key, [...(groups.get(key) ?? []), x]);
  }
  const order = (key: string): number => {
    const [writer, fsId] = key.split("|");
    return allWriters.findIndex((w) => w.name === writer) * 10 +
      FILE_SYSTEMS.findIndex((f) => f.id === fsId);
  };
  for (
    const [key, cuts] of [...groups].sort((a, b) => order(a[0]) - order(b[0]))
  ) {
    const [writer, fsId] = key.split("|");
    const runtimes = [...new Set(cuts.map((x) => x.case.runtime.name))];
    rows.push(
      `| ${writer} | ${fsId} | ${runtimes.join(", ")} | ${cuts.length} | ${
        cuts.filter((x) => x.broken).length
      } | ${cuts.filter((x) => x.lost).length} | ${
        cuts.filter((x) => x.stray.length > 0).length
      } |`,
    );
  }
  return rows;
}

async function main(): Promise<number> {
  const problem = loopProblem(["ext4", "xfs"], true);
  if (problem) {
    console.log(`SKIP the power-cut suite: ${problem}; nothing was tested`);
    console.log("0 passed, 0 failed, 1 skipped");
    return 0;
  }
  const cases = plan();
  const total = cases.reduce((n, c) => n + c.cuts.length, 0);
  console.log(
    `power-cut suite: seed ${seed}, ${cases.length} cases, ${total} cuts${
      quick ? " (--quick)" : ""
    }`,
  );
  const started = Date.now();
  const byFs = new Map<string, Case[]>();
  for (const c of cases) byFs.set(c.fs, [...(byFs.get(c.fs) ?? []), c]);
  await pool(
    byFs.size,
    [...byFs].map(([fsId, list]) => () => runFileSystem(fsId, list)),
  );
  console.log(`\n${table().join("\n")}\n`);
  const library = cases.filter((c) => c.writer.library);
  const failed = library.filter((c) =>
    results.some((x) => x.case === c && violates(x)) ||
    errors.some((e) => e.startsWith(`${c.id}: `))
  ).map((c) => c.id);
  const plain = results.filter((x) => x.case.writer.name === "fs.writeFile");
  if (plain.length >= 5 && !plain.some(violates)) {
    failed.push(
      `the fs.writeFile control survived all ${plain.length} cuts: the cut did not lose unflushed data`,
    );
  }
  const passed = library.length - failed.length;
  failed.push(...errors.filter((e) => !failed.includes(e.split(": ")[0])));
  const secs = ((Date.now() - started) / 1000).toFixed(0);
  console.log(
    `seed ${seed}, ${results.length} cuts in ${secs} s; rerun with --seed=${seed}`,
  );
  for (const f of failed) console.log(`FAILED: ${f}`);
  console.log(
    `${passed} passed, ${failed.length} failed`,
  );
  return failed.length > 0 ? 1 : 0;
}

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(signal, () => {
    for (const child of living) child.kill();
  });
}
cleanUpOnExit(); // after the handler above: writers die before the unmounts
process.exitCode = await main();
