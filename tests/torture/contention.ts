/**
 * Contention: writers on every runtime and API rewrite one file at once for
 * a few seconds while a reader per runtime checks every read; no read is
 * torn or finds no file, no writer fails, no temporary file is left.
 */
import fs from "node:fs";
import path from "node:path";
import type { Api, Job } from "./_child.ts";
import {
  APIS,
  Child,
  childArgv,
  expect,
  KiB,
  readOrNull,
  type Runtime,
  tempsIn,
} from "./_harness.ts";
import { checkPayload, makePayload } from "./_payload.ts";
import type { Family, Suite } from "../_suite.ts";

/** What one run of all writers and readers showed. */
interface Contended {
  /** Per runtime, what went wrong for its writers and reader. */
  problems: Map<string, string[]>;
  /** Why the run itself broke down, if it did. */
  setupError: string;
  /** Temporary files left in the directory. */
  left: string[];
  final: ReturnType<typeof checkPayload>;
  writers: number;
}

/** Writers on every runtime and API at once, readers checking every read. */
async function contend(suite: Suite): Promise<Contended> {
  const runtimes = suite.options.runtimes;
  const dir = suite.mkdir("contention");
  const target = path.join(dir, "shared.json");
  const stop = path.join(suite.root, "contention.stop");
  fs.writeFileSync(target, makePayload("initial", 0, 4 * KiB));
  const writers: { rt: Runtime; api: Api; child: Child }[] = [];
  const readers: { rt: Runtime; child: Child }[] = [];
  let seed = 1;
  for (const rt of runtimes) {
    for (const api of APIS) {
      const job: Job = {
        mode: "contend",
        target,
        api,
        tag: `${rt.name}-${api}`,
        seed: seed++,
        min: KiB,
        max: 256 * KiB,
        ms: 4000,
      };
      writers.push({ rt, api, child: new Child(childArgv(rt, job)) });
    }
    readers.push({
      rt,
      child: new Child(childArgv(rt, { mode: "read", target, stop })),
    });
  }
  const all = [...writers, ...readers].map((w) => w.child);
  const problems = new Map<string, string[]>(
    runtimes.map((rt) => [rt.name, []]),
  );
  let setupError = "";
  try {
    await Promise.all(all.map((c) => c.message("ready")));
    for (const c of all) c.send("go");
    for (const w of writers) {
      const r = await w.child.message("result", 60_000);
      suite.count(w.rt.name, "contended writes", r.writes as number);
      if ((r.errors as number) > 0) {
        problems.get(w.rt.name)!.push(
          `${w.api} writer: ${r.errors} errors, e.g. ${
            JSON.stringify(r.firstErrors)
          }`,
        );
      }
      if ((r.writes as number) === 0) {
        problems.get(w.rt.name)!.push(`${w.api} writer wrote nothing`);
      }
    }
    fs.writeFileSync(stop, "");
    for (const r of readers) {
      const m = await r.child.message("result", 30_000);
      suite.count(r.rt.name, "reads validated", m.reads as number);
      const mine = problems.get(r.rt.name)!;
      if ((m.torn as number) > 0) {
        mine.push(
          `reader: ${m.torn} torn reads (${
            (m.tornReasons as string[]).join("; ")
          })`,
        );
      }
      if ((m.missing as number) > 0) {
        mine.push(`reader: ${m.missing} reads found no file`);
      }
      if ((m.reads as number) === 0) mine.push("reader: no reads");
    }
    await Promise.all(all.map((c) => c.finished()));
  } catch (error) {
    setupError = error instanceof Error ? error.message : String(error);
  } finally {
    for (const c of all) c.kill();
  }
  return {
    problems,
    setupError,
    left: tempsIn(dir),
    final: checkPayload(readOrNull(target) ?? new Uint8Array()),
    writers: writers.length,
  };
}

/** One runtime's share of the one contended run. */
async function contentionCase(suite: Suite, rt: Runtime): Promise<string> {
  const { problems, setupError, left, final, writers } = await suite.once(
    "contention",
    () => contend(suite),
  );
  const mine = problems.get(rt.name)!;
  expect(!setupError, setupError);
  expect(mine.length === 0, mine.join("; "));
  expect(left.length === 0, `temporary files left: ${left.join(", ")}`);
  expect(final.ok, `the final target is bad: ${!final.ok && final.reason}`);
  const writes = suite.count(rt.name, "contended writes", 0);
  const reads = suite.count(rt.name, "reads validated", 0);
  return `${writes} writes, 0 errors; ${reads} reads validated, 0 torn or missing; no temp (with ${writers} writers on all runtimes)`;
}

/** One run of every writer and reader at once, judged per runtime. */
export const contention: Family = {
  id: "contention",
  proves:
    "many processes on every runtime rewriting one file: no torn or missing read, no writer error, no temp",
  cases: (suite, rt) => [{
    name: `contention ${rt.name} (async+handle+sync writers, reader)`,
    run: () => contentionCase(suite, rt),
  }],
};
