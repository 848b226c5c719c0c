/**
 * Preloaded into a program under test (Node's `--import`, Deno's and Bun's
 * `--preload`): its `fs.promises.open()` of a file named `f` prints
 * `opening` to standard error and then waits a second before it opens, so
 * that a test can send a signal while a command that holds `f`'s lock has
 * not started anything yet.
 */
import fs from "node:fs";
import path from "node:path";

const open = fs.promises.open.bind(fs.promises);

fs.promises.open = (async (...args: Parameters<typeof open>) => {
  if (path.basename(String(args[0])) === "f") {
    fs.writeSync(2, "opening\n");
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  return await open(...args);
}) as typeof fs.promises.open;
