/**
 * The process the file-system matrix (`run.ts`) starts on each runtime. It
 * takes one JSON argument, a list of `{ behaviour, dir, size }`, does each
 * behaviour's library calls in its directory, one after the other, and
 * prints one JSON line: `{ "type": "result", "cases": [{ outcomes, temps }] }`,
 * for each case in order what its calls did and the temporary files in its
 * directory once they settled (before the exit hook could remove any).
 */
import fs from "node:fs";
import process from "node:process";
import { tempsIn } from "../torture/_harness.ts";
import { BEHAVIOURS, type Outcome } from "./_behaviours.ts";

/** One case for the child. */
export interface ChildCase {
  behaviour: string;
  dir: string;
  /** Bytes to write, for the behaviours that need a size (ENOSPC). */
  size: number;
}

const cases = JSON.parse(process.argv[2]) as ChildCase[];
const results: { outcomes: Outcome[]; temps: string[] }[] = [];
for (const c of cases) {
  const behaviour = BEHAVIOURS.find((b) => b.id === c.behaviour)!;
  const outcomes = await behaviour.act(c.dir, c.size);
  results.push({ outcomes, temps: tempsIn(c.dir) });
}
fs.writeSync(1, JSON.stringify({ type: "result", cases: results }) + "\n");
process.exit(0);
