/**
 * Run by `full_table_test.ts` under a low `ulimit -n`, on the test's
 * runtime: `_burst_child.ts MODE DIR LIMIT`.
 * - `update`, `update-mixed`, `write`: calls at once as many
 *   `updateFileAtomic` (`update`, `update-mixed`) or `writeFileAtomic`
 *   (`write`) of as many files in DIR as the descriptor table has room for
 *   (LIMIT, less the descriptors open once a first update is done, less
 *   two); the files exist beforehand (`update-mixed`: every other one), and
 *   each call writes "new". Prints `{ calls, failed, first, stale }`: how
 *   many failed, the first failure's message, how many files do not hold
 *   "new".
 * - `full`: fills the table with files of its own, then calls
 *   `updateFileAtomic` and `writeFileAtomic` of one file in DIR each;
 *   prints `{ update, write, ms }`: their codes, and how long both took.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { updateFileAtomic, writeFileAtomic } from "../mod.ts";
import { fillDescriptors, freeDescriptors } from "./_descriptors.ts";

const [mode, dir, limit] = process.argv.slice(2);

/** The code an error carries, for a line of outcomes. */
function codeOf(error: unknown): string {
  return String((error as { code?: unknown }).code);
}

/** How many descriptors this process has open (the count's own not counted). */
function openNow(): number {
  return fs.readdirSync("/proc/self/fd").length - 1;
}

// What the runtime and the library set up on their first update and write
// (threads, /proc reads) is done before the count: the burst then meets
// only its own descriptors.
const warm = path.join(dir, "warm-up");
await updateFileAtomic(warm, () => "x");
await writeFileAtomic(warm, "y");
fs.rmSync(warm);

if (mode === "full") {
  const target = path.join(dir, "f");
  fs.writeFileSync(target, "old");
  const held = fillDescriptors();
  const started = performance.now();
  const outcomes = [
    await updateFileAtomic(target, () => "new").then(() => "ok", codeOf),
    await writeFileAtomic(target, "new").then(() => "ok", codeOf),
  ];
  const ms = Math.round(performance.now() - started);
  freeDescriptors(held);
  console.log(JSON.stringify({ update: outcomes[0], write: outcomes[1], ms }));
} else {
  // Room for one descriptor each, and the directory's, and one to spare.
  const calls = Number(limit) - openNow() - 2;
  const files = Array.from(
    { length: calls },
    (_, i) => path.join(dir, `f${i}`),
  );
  files.forEach((file, i) => {
    if (mode !== "update-mixed" || i % 2 === 0) fs.writeFileSync(file, "old");
  });
  const results = await Promise.allSettled(
    files.map((file) =>
      mode === "write"
        ? writeFileAtomic(file, "new")
        : updateFileAtomic(file, () => "new")
    ),
  );
  const failures = results.filter((r) => r.status === "rejected");
  const stale = files.filter((file) =>
    !fs.existsSync(file) || fs.readFileSync(file, "utf8") !== "new"
  ).length;
  console.log(JSON.stringify({
    calls,
    failed: failures.length,
    first: (failures[0] as PromiseRejectedResult | undefined)?.reason?.message,
    stale,
  }));
}
