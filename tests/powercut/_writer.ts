/**
 * The writer the power-cut harness starts and cuts: it replaces TARGET with
 * version 1, 2, 3, … (self-checking payloads, see `../torture/_payload.ts`)
 * through one writer of `_writers.ts`, and prints `{"type":"ack","seq":N}`
 * on stdout (a pipe, outside the file system under test) once version N's
 * write has resolved. Sizes come from SEED, so a cut can be replayed.
 *
 * Usage: `_writer.ts '{"target":"…","writer":"writeFileAtomic","seed":1}'`
 */
import fs from "node:fs";
import process from "node:process";
import { logSize, makePayload, prng } from "../torture/_payload.ts";
import { writers } from "./_writers.ts";

/** What the harness asks the writer to do. */
export interface WriterJob {
  target: string;
  writer: string;
  seed: number;
}

/** Payloads from 1 KiB to 512 KiB, evenly spread on a log scale. */
export const MIN_BYTES = 1024;
export const MAX_BYTES = 512 * 1024;

function say(message: Record<string, unknown>): void {
  fs.writeSync(1, JSON.stringify(message) + "\n");
}

async function main(job: WriterJob): Promise<void> {
  const writer = writers.find((w) => w.name === job.writer);
  if (!writer) throw new Error(`unknown writer "${job.writer}"`);
  const commit = await writer.open(job.target);
  const random = prng(job.seed);
  for (let seq = 1;; seq++) {
    const bytes = makePayload("v", seq, logSize(random, MIN_BYTES, MAX_BYTES));
    try {
      await commit(job.target, bytes);
    } catch (error) {
      // Expected once the file system is shut down (EIO).
      say({ type: "error", seq, message: String(error) });
      process.exit(1);
    }
    say({ type: "ack", seq });
  }
}

if (import.meta.main ?? process.argv[1]?.endsWith("_writer.ts")) {
  await main(JSON.parse(process.argv[2]));
}
