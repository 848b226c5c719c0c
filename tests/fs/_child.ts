/**
 * The process the file-system matrix (`run.ts`) starts on each runtime. It
 * takes one JSON argument, a list of `{ behaviour, dir, size }`, does each
 * behaviour's library calls in its directory, one after the other, and
 * prints one JSON line: `{ "type": "result", "cases": [{ outcomes, leftovers }] }`,
 * for each case in order what its calls did and the temporary and lock
 * files in its directory once they settled (before the exit hook could
 * remove any).
 */
import fs from "node:fs";
import process from "node:process";
import type { ChildRuntime } from "../_lock_fixtures.ts";
import { BEHAVIOURS, leftoversIn, type Outcome } from "./_behaviours.ts";

/** One case for the child. */
export interface ChildCase {
  behaviour: string;
  dir: string;
  /** Bytes to write, for the behaviours that need a size (ENOSPC). */
  size: number;
  /** The runtime this child runs on (a lock case starts more processes on it). */
  runtime: ChildRuntime;
}

const cases = JSON.parse(process.argv[2]) as ChildCase[];
const results: { outcomes: Outcome[]; leftovers: string[] }[] = [];
for (const c of cases) {
  const behaviour = BEHAVIOURS.find((b) => b.id === c.behaviour)!;
  const outcomes = await behaviour.act(c.dir, c.size, c.runtime);
  results.push({ outcomes, leftovers: leftoversIn(c.dir) });
}
fs.writeSync(1, JSON.stringify({ type: "result", cases: results }) + "\n");
process.exit(0);
