/** Paths the kernel resolves differently from text, and special files, for tests. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/**
 * `dir/real/sub/`, `dir/alias -> real/sub`, `dir/real/target.json` holding
 * "old", and `dir/real/sub/link -> ../target.json`.
 */
export function linkedTree(dir: string): { real: string; alias: string } {
  fs.mkdirSync(path.join(dir, "real", "sub"), { recursive: true });
  fs.symlinkSync("real/sub", path.join(dir, "alias"));
  fs.writeFileSync(path.join(dir, "real", "target.json"), "old");
  fs.symlinkSync("../target.json", path.join(dir, "real", "sub", "link"));
  return {
    real: path.join(dir, "real", "target.json"),
    alias: path.join(dir, "alias"),
  };
}

/** Makes a FIFO at `file` with mkfifo(1); a reason to skip if it cannot. */
export function mkfifo(file: string): string | null {
  const made = spawnSync("mkfifo", [file]);
  return made.status === 0 ? null : "mkfifo(1) is not available";
}
