/**
 * The lock torture (issue 8): cross-process updates under real contention,
 * real SIGKILLs and real stalls, with Deno, Bun and Node processes mixed.
 *
 * Cases (each proves one guarantee; rerun one with `--cases=NAME`):
 * - `contention`: 2 Node, 2 Bun and 2 Deno workers, async and sync mixed,
 *   each increment one JSON counter N times: the final value is exactly
 *   6·N and no value is acknowledged twice;
 * - `kills`: the same while random workers, lock holders first, are
 *   SIGKILLed and restarted: no value acknowledged twice, the final value at
 *   least the largest acknowledged; reports the longest pause between a
 *   holder's death and the takeover of its lock;
 * - `race`: 20 contenders face one stale lock at once; an O_EXCL marker
 *   created inside the critical section proves no two holders overlap;
 * - `stall`: a holder whose event loop is blocked past its lease does not
 *   commit (ELOCKLOST) and the live holder's update is applied once;
 * - `boot`: a lock file from a previous boot (another boot id, last touched
 *   before this boot) is taken over without waiting for its lease;
 * - `peers`: the same counter through the read-then-write pattern users of
 *   write-file-atomic, atomically and steno write today, against
 *   updateFileAtomic: how many updates each loses (a table, not a failure).
 *
 * Run with Node 24: `node tests/torture/lock.ts [--quick] [--cases=a,b]
 * [--n=N]`, or `npm run test:lock` (`--quick` is what `.ci/run` runs). Exits
 * non-zero if any guarantee of ours fails.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { counterValue } from "../_lock_child.ts";
import {
  type ChildRuntime,
  contention,
  duplicatesIn,
  type LockChild,
  lockPathOf,
  MIXED_WORKERS,
  startLockChild,
  writeLockBeforeBoot,
} from "../_lock_fixtures.ts";

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = "true"] = arg.replace(/^--/, "").split("=");
    return [key, value];
  }),
);
const quick = args.has("quick");
const cases = new Set(
  (args.get("cases") ?? "contention,kills,race,stall,boot,peers").split(","),
);
const N = Number(args.get("n") ?? (quick ? 25 : 150));
const RUNTIMES: ChildRuntime[] = ["deno", "bun", "node"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let failures = 0;
const report: string[] = [];

function check(name: string, ok: boolean, detail: string): void {
  if (!ok) failures++;
  const line = `${ok ? "ok  " : "FAIL"} ${name}: ${detail}`;
  console.log(line);
  report.push(line);
}

async function inTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atomic-lock-torture-"));
  try {
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function caseContention(): Promise<void> {
  await inTempDir(async (dir) => {
    const r = await contention(path.join(dir, "n.json"), MIXED_WORKERS, N);
    check(
      "contention",
      r.final === 6 * N && r.duplicates.length === 0 &&
        r.acks.length === 6 * N,
      `6 workers × ${N}: final ${r.final} (want ${
        6 * N
      }), ${r.acks.length} acks, ${r.duplicates.length} acknowledged twice, ${
        Math.round(6 * N / r.elapsedMs * 1000)
      } updates/s`,
    );
  });
}

/** The pid recorded in the lock file of `target`, or `null`. */
function holderOf(target: string): { pid: number; token: string } | null {
  try {
    const record = JSON.parse(fs.readFileSync(lockPathOf(target), "utf8"));
    return { pid: record.pid, token: record.token };
  } catch {
    return null;
  }
}

async function caseKills(): Promise<void> {
  await inTempDir(async (dir) => {
    const target = path.join(dir, "n.json");
    const kills = quick ? 6 : 40;
    const workers: { runtime: ChildRuntime; api: string; left: number }[] =
      MIXED_WORKERS.map(([runtime, api]) => ({ runtime, api, left: N }));
    const running = new Map<number, LockChild>();
    const exited = new Set<LockChild>();
    const acks: number[] = [];
    const start = (i: number) => {
      const w = workers[i];
      const child = startLockChild(w.runtime, [
        "count",
        target,
        String(w.left),
        w.api,
      ]);
      running.set(i, child);
      child.ended.then(() => exited.add(child));
      return child;
    };
    const collect = (i: number, child: LockChild) => {
      const mine = child.lines.filter((l) => l.startsWith("ack ")).map((l) =>
        Number(l.slice(4))
      );
      acks.push(...mine);
      workers[i].left -= mine.length;
    };
    workers.forEach((_, i) => start(i));
    await sleep(1_500); // let the runtimes start
    let holderKills = 0;
    let longestPause = 0;
    for (let k = 0; k < kills; k++) {
      await sleep(100 + Math.random() * 300);
      const holder = holderOf(target);
      let victim = [...running.entries()].find(([, c]) =>
        c.pid === holder?.pid
      );
      victim ??= [...running.entries()][
        Math.floor(Math.random() * running.size)
      ];
      if (!victim) break;
      const [i, child] = victim;
      const wasHolder = holderOf(target)?.pid === child.pid;
      const killedAt = performance.now();
      child.kill("SIGKILL");
      await child.ended;
      collect(i, child);
      running.delete(i);
      // Nobody else left to take the lock over: the restarted worker will.
      const restartFirst = [...running.values()].every((c) => exited.has(c));
      if (restartFirst && workers[i].left > 0) start(i);
      if (wasHolder) {
        holderKills++;
        // The pause: until another process holds the lock (or it is free and
        // nobody wants it, which ends the wait too).
        const token = holderOf(target)?.token;
        while (performance.now() - killedAt < 30_000) {
          const now = holderOf(target);
          if (now === null || now.token !== token) break;
          await sleep(1);
        }
        longestPause = Math.max(longestPause, performance.now() - killedAt);
      }
      if (!restartFirst && workers[i].left > 0) start(i);
    }
    for (const [i, child] of running) {
      const end = await child.ended;
      if (end.code !== 0) {
        check("kills", false, `worker ${i} failed: ${child.stderr()}`);
      }
      collect(i, child);
    }
    const final = counterValue(fs.readFileSync(target, "utf8"));
    const duplicates = duplicatesIn(acks);
    const largest = Math.max(...acks);
    check(
      "kills",
      // A worker killed right after a commit had no time to acknowledge it.
      duplicates.length === 0 && final >= largest && final <= 6 * N + kills,
      `${kills} kills (${holderKills} of lock holders): final ${final} ≥ largest ack ${largest}, ${duplicates.length} acknowledged twice; longest takeover pause ${
        longestPause.toFixed(1)
      } ms`,
    );
  });
}

async function caseRace(): Promise<void> {
  const rounds = quick ? 1 : 5;
  for (const runtime of RUNTIMES) {
    let overlaps = 0;
    let done = 0;
    for (let round = 0; round < rounds; round++) {
      await inTempDir(async (dir) => {
        const target = path.join(dir, "f");
        const marker = path.join(dir, "inside");
        const go = path.join(dir, "go");
        writeLockBeforeBoot(target, { boot: "00000000-previous-boot" });
        const contenders = Array.from(
          { length: 20 },
          () => startLockChild(runtime, ["race", target, marker, go]),
        );
        await sleep(2_000);
        fs.writeFileSync(go, "");
        await Promise.all(contenders.map((c) => c.ended));
        const lines = contenders.flatMap((c) => c.lines);
        overlaps += lines.filter((l) => l === "overlap").length;
        done += lines.filter((l) => l === "done").length;
      });
    }
    check(
      `race ${runtime}`,
      overlaps === 0 && done === 20 * rounds,
      `${rounds} × 20 contenders on one stale lock: ${done} held it, ${overlaps} overlaps`,
    );
  }
}

async function caseStall(): Promise<void> {
  for (const runtime of RUNTIMES) {
    await inTempDir(async (dir) => {
      const target = path.join(dir, "n.json");
      fs.writeFileSync(target, JSON.stringify({ n: 1 }));
      const lease = 1_000; // the minimum
      const stalled = startLockChild(runtime, [
        "stall",
        target,
        String(lease),
        String(lease * 4),
      ]);
      await stalled.waitFor((l) => l === "in");
      const live = startLockChild(runtime, ["count", target, "1", "async"]);
      await live.ended;
      const outcome = await stalled.waitFor((l) => l !== "in");
      await stalled.ended;
      const final = counterValue(fs.readFileSync(target, "utf8"));
      check(
        `stall ${runtime}`,
        outcome === "ELOCKLOST" && final === 2 &&
          live.lines.includes("ack 2"),
        `stalled holder: ${outcome}; live update acked ${
          live.lines.join(",")
        }; final ${final}`,
      );
    });
  }
}

async function caseBoot(): Promise<void> {
  for (const runtime of RUNTIMES) {
    await inTempDir(async (dir) => {
      const target = path.join(dir, "n.json");
      writeLockBeforeBoot(target, { boot: "00000000-previous-boot" });
      const started = performance.now();
      const child = startLockChild(runtime, ["count", target, "1", "async"]);
      await child.ended;
      const took = performance.now() - started;
      check(
        `boot ${runtime}`,
        child.lines.includes("ack 1") && took < 30_000,
        `lock from a previous boot (touched before this boot, lease not run out) taken over; the whole process took ${
          Math.round(took)
        } ms`,
      );
    });
  }
}

async function casePeers(): Promise<void> {
  const n = quick ? 20 : 100;
  const rows: string[] = [];
  const nodes = (x: string): [ChildRuntime, string][] =>
    Array.from({ length: 6 }, () => ["node", x]);
  const contenders: [string, [ChildRuntime, string][], string][] = [
    [
      "write-file-atomic (read, then write)",
      nodes("write-file-atomic"),
      "peer",
    ],
    ["atomically (read, then write)", nodes("atomically"), "peer"],
    ["steno (read, then write)", nodes("steno"), "peer"],
    ["@x/atomic updateFileAtomic (Node)", nodes("async"), "count"],
    [
      "@x/atomic updateFileAtomic (2 Deno, 2 Bun, 2 Node)",
      MIXED_WORKERS,
      "count",
    ],
  ];
  for (const [name, workers, mode] of contenders) {
    await inTempDir(async (dir) => {
      const r = await contention(path.join(dir, "n.json"), workers, n, mode);
      // A torn final file (a peer's) lost every update.
      const lost = 6 * n - r.errors - (r.final ?? 0);
      rows.push(
        `| ${name} | ${6 * n} | ${r.errors} | ${r.final ?? "torn"} | ${lost} (${
          (lost / (6 * n - r.errors) * 100).toFixed(0)
        } %) | ${r.duplicates.length} |`,
      );
      if (mode === "count") {
        check(
          `peers ${name}`,
          lost === 0 && r.duplicates.length === 0,
          `lost ${lost}`,
        );
      }
    });
  }
  const table = [
    `| 6 processes × ${n} increments | updates | failed (error or torn read) | final value | lost (of the writes that succeeded) | values acknowledged twice |`,
    "|---|---:|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
  console.log(table);
  report.push(table);
}

const all: [string, () => Promise<void>][] = [
  ["contention", caseContention],
  ["kills", caseKills],
  ["race", caseRace],
  ["stall", caseStall],
  ["boot", caseBoot],
  ["peers", casePeers],
];
for (const [name, run] of all) {
  if (!cases.has(name)) continue;
  try {
    await run();
  } catch (error) {
    check(name, false, `crashed: ${(error as Error).stack}`);
  }
}
console.log(
  failures === 0
    ? "lock torture: all passed"
    : `lock torture: ${failures} failed`,
);
process.exit(failures === 0 ? 0 : 1);
