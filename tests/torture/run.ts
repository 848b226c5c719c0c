/**
 * The torture suite: real crashes, real system-call faults, the durable
 * protocol checked from the outside, a really full disk, real permissions
 * and real contention, on Deno, Bun and Node 24, for the async, handle
 * (`openAtomic`) and sync APIs. What each family proves, and how to rerun
 * one failing case: `tests/torture/README.md`.
 *
 * Run with Node 24: `node tests/torture/run.ts [--families=crash,faults]
 * [--runtimes=deno,bun] [--only=TEXT] [--kills=N] [--keep]`, or
 * `npm run test:torture`. With `ATOMIC_IMPL=naive` the children write with
 * plain `fs.writeFile` instead (see `_naive.ts`), and every family should
 * fail. Prints one line per case, counts per runtime, and last
 * `N passed, N failed`; exits non-zero on any failure.
 */
import process from "node:process";
import { type Family, runSuite } from "../_suite.ts";
import { contention } from "./contention.ts";
import { crash } from "./crash.ts";
import { faults } from "./faults.ts";
import { fullDisk } from "./full_disk.ts";
import { privileges } from "./privileges.ts";
import { protocol } from "./protocol.ts";

/** Every family, in the order of the concepts. */
const FAMILIES: Family[] = [
  crash,
  faults,
  protocol,
  fullDisk,
  privileges,
  contention,
];

if (import.meta.main) {
  const naive = process.env.ATOMIC_IMPL === "naive";
  process.exit(
    await runSuite(
      "torture",
      FAMILIES,
      process.argv.slice(2),
      `torture: ${naive ? "NAIVE fs.writeFile implementation" : "@x/atomic"}`,
    ),
  );
}
