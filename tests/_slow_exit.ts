/**
 * Preloaded into a program under test (Node's `--import`, Deno's and Bun's
 * `--preload`): its `process.exit()` prints `exiting` to standard error and
 * then blocks the thread for a second before it exits, so that a test can
 * send a signal in the last moment of a command, once all its work is done.
 */
import fs from "node:fs";
import process from "node:process";

const exit = process.exit.bind(process);
const cell = new Int32Array(new SharedArrayBuffer(4));

process.exit = ((code?: number) => {
  fs.writeSync(2, "exiting\n");
  Atomics.wait(cell, 0, 0, 1_000);
  return exit(code);
}) as typeof process.exit;
