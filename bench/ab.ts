/**
 * A side-by-side A/B of two copies of the library on the cases that a
 * change to `prepare` moves most: a 1 KiB overwrite, durable and with
 * `fsync: false`, and the same with `writeFileAtomicSync` (where no round
 * trip hides the work done in JavaScript); and for changes to the lock, a
 * durable 1 KiB update with each API. Rounds alternate between A and B so that machine noise hits
 * both alike; the result is the median of the per-round ratios B/A.
 *
 * Usage (any runtime; Deno needs `run -A`):
 *   node bench/ab.ts <A mod.ts> <B mod.ts> [rounds]
 * For example, against the last commit:
 *   git archive HEAD mod.ts src | tar -x -C /tmp/base
 *   node bench/ab.ts /tmp/base/mod.ts ./mod.ts
 *
 * @module
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";

type Write = (
  file: string,
  data: Uint8Array,
  options: { fsync: boolean },
) => Promise<void> | void;

const [a, b, roundsArg] = process.argv.slice(2);
if (!a || !b) {
  console.error("usage: ab.ts <A mod.ts> <B mod.ts> [rounds]");
  process.exit(2);
}
const rounds = Number(roundsArg ?? 15);
type Update = (
  file: string,
  fn: () => Uint8Array,
  options: { fsync: boolean },
) => Promise<unknown> | unknown;
type Library = {
  writeFileAtomic: Write;
  writeFileAtomicSync: Write;
  updateFileAtomic: Update;
  updateFileAtomicSync: Update;
};
const load = async (file: string): Promise<Library> =>
  await import(pathToFileURL(path.resolve(file)).href);
const libraries: [string, Library][] = [["A", await load(a)], [
  "B",
  await load(b),
]];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "paths-ab-"));
const data = new Uint8Array(1024).fill(97);

/** One case's call of a library; `sync`: run without awaiting. */
interface Contender {
  write: Write;
  sync: boolean;
}

/** Microseconds per write for `n` sequential overwrites of one file. */
async function time(
  { write, sync }: Contender,
  fsync: boolean,
  n: number,
): Promise<number> {
  const file = path.join(dir, "target");
  fs.writeFileSync(file, "old");
  const start = performance.now();
  if (sync) {
    for (let i = 0; i < n; i++) write(file, data, { fsync });
  } else {
    for (let i = 0; i < n; i++) await write(file, data, { fsync });
  }
  return ((performance.now() - start) * 1000) / n;
}

/** A library's call for a case. */
const calls: Record<string, (lib: Library) => Contender> = {
  write: (lib) => ({ write: lib.writeFileAtomic, sync: false }),
  writeSync: (lib) => ({ write: lib.writeFileAtomicSync, sync: true }),
  update: (lib) => ({
    write: (file, bytes, options) =>
      lib.updateFileAtomic(file, () => bytes, options) as Promise<void>,
    sync: false,
  }),
  updateSync: (lib) => ({
    write: (file, bytes, options) =>
      void lib.updateFileAtomicSync(file, () => bytes, options),
    sync: true,
  }),
};

const median = (xs: number[]): number =>
  [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];

try {
  const cases: [string, string, boolean, number][] = [
    ["1 KiB durable ", "write", true, 100],
    ["1 KiB no-fsync", "write", false, 2000],
    ["sync no-fsync ", "writeSync", false, 2000],
    ["update durable", "update", true, 100],
    ["sync update   ", "updateSync", true, 100],
  ];
  for (const [label, call, fsync, n] of cases) {
    const contenders = libraries.map(([name, lib]): [string, Contender] => [
      name,
      calls[call](lib),
    ]);
    for (const [, write] of contenders) await time(write, fsync, n / 4);
    const us: Record<string, number[]> = { A: [], B: [] };
    const ratios: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? contenders : [...contenders].reverse();
      for (const [name, write] of order) {
        us[name].push(await time(write, fsync, n));
      }
      ratios.push(us.B[round] / us.A[round]);
    }
    console.log(
      `${label}: A ${median(us.A).toFixed(1)} µs, B ${
        median(us.B).toFixed(1)
      } µs, B/A ${median(ratios).toFixed(3)}`,
    );
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
