/**
 * Preloaded into a program under test (Node's `--import`, Deno's and Bun's
 * `--preload`): its first `fs.promises.open()` of a missing file named `f`
 * finds a file that `nobody` made there just before (world-writable, holding
 * `planted`), as another user of a shared sticky directory can, between a
 * lock's look at the name and the open of the file locked. Run as root.
 */
import fs from "node:fs";
import path from "node:path";

const NOBODY = 65534;
const open = fs.promises.open.bind(fs.promises);
let planted = false;

fs.promises.open = (async (...args: Parameters<typeof open>) => {
  const file = String(args[0]);
  if (!planted && path.basename(file) === "f" && !fs.existsSync(file)) {
    planted = true;
    fs.writeFileSync(file, "planted");
    fs.chownSync(file, NOBODY, NOBODY);
    fs.chmodSync(file, 0o666);
  }
  return await open(...args);
}) as typeof fs.promises.open;
