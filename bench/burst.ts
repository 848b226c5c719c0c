/**
 * A burst: N `writeFileAtomic` calls made at once, to N files or to one,
 * in one process; prints the time, the peak RSS, the errors by code and
 * whether every file holds what its last call wrote. Not a ratio: it shows
 * how the cost grows with N (it must grow about linearly), on whichever
 * runtime runs it.
 *
 * Usage: `node bench/burst.ts [N] [distinct|same] [fsync|no-fsync]`
 * (also `bun bench/burst.ts …`, `deno run -A bench/burst.ts …`).
 *
 * @module
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { writeFileAtomic } from "../mod.ts";

const [count = "3000", target = "distinct", durability = "no-fsync"] = process
  .argv.slice(2);
const n = Number(count);
const fsync = durability === "fsync";
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atomic-burst-"));
const fileOf = (i: number): string =>
  path.join(dir, target === "same" ? "one" : `f${i}`);

const started = performance.now();
let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 10);
const outcomes = await Promise.allSettled(
  Array.from(
    { length: n },
    (_, i) => writeFileAtomic(fileOf(i), `data ${i}\n`, { fsync }),
  ),
);
clearInterval(sampler);
const ms = performance.now() - started;
peakRss = Math.max(peakRss, process.memoryUsage().rss);

const errors: Record<string, number> = {};
for (const outcome of outcomes) {
  if (outcome.status === "fulfilled") continue;
  const code = (outcome.reason as { code?: string }).code ?? "?";
  errors[code] = (errors[code] ?? 0) + 1;
}
let wrong = 0;
if (target === "same") {
  wrong = fs.readFileSync(fileOf(0), "utf8") === `data ${n - 1}\n` ? 0 : 1;
} else {
  for (let i = 0; i < n; i++) {
    if (outcomes[i].status === "rejected") continue;
    if (fs.readFileSync(fileOf(i), "utf8") !== `data ${i}\n`) wrong++;
  }
}
const left = fs.readdirSync(dir).filter((name) => name.endsWith(".atomic-tmp"));
fs.rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({
  n,
  target,
  fsync,
  ms: Math.round(ms),
  peakRssMB: Math.round(peakRss / 1e6),
  errors,
  wrong,
  temporaryFilesLeft: left.length,
}));
