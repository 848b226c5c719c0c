/**
 * The process the file-system matrix (`run.ts`) starts on each runtime. It
 * takes one JSON argument, a list of `{ behaviour, dir, size }`, does each
 * behaviour's library calls in its directory, one after the other, and
 * prints one JSON line: `{ "type": "result", "outcomes": [[…], …] }`, the
 * outcomes of each case in order.
 */
import fs from "node:fs";
import process from "node:process";
import { BEHAVIOURS, type Outcome } from "./_behaviours.ts";

/** One case for the child. */
export interface ChildCase {
  behaviour: string;
  dir: string;
  /** Bytes to write, for the behaviours that need a size (ENOSPC). */
  size: number;
}

const cases = JSON.parse(process.argv[2]) as ChildCase[];
const outcomes: Outcome[][] = [];
for (const c of cases) {
  const behaviour = BEHAVIOURS.find((b) => b.id === c.behaviour)!;
  outcomes.push(await behaviour.act(c.dir, c.size));
}
fs.writeSync(1, JSON.stringify({ type: "result", outcomes }) + "\n");
process.exit(0);
