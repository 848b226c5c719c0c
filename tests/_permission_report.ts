/**
 * Runs `_permissions_child.ts` in a fresh directory under a runtime's
 * permission flags and returns its report: one outcome per core behaviour,
 * `"ok"` or `"<code>: <message>"`. Shared by the Deno and Node permission
 * tests.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { root } from "./_fixtures.ts";

/** The child that runs every core behaviour in the directory it is given. */
export const permissionsChild: string = path.join(
  root,
  "tests",
  "_permissions_child.ts",
);

/**
 * Puts the files the behaviours expect in `dir` (a 0640 file holding "old"
 * and a link to it), runs `command` followed by `dir`, and parses what the
 * child printed.
 */
export function permissionReport(
  dir: string,
  command: string[],
): Record<string, string> {
  fs.writeFileSync(path.join(dir, "0640"), "old", { mode: 0o640 });
  fs.chmodSync(path.join(dir, "0640"), 0o640);
  fs.symlinkSync("0640", path.join(dir, "link"));
  const [program, ...args] = command;
  const run = spawnSync(program, [...args, dir], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

/** Asserts that the files `permissionReport` made are as they were, and nothing else is in `dir`. */
export function leftAsItWas(dir: string): void {
  assert.equal(fs.readFileSync(path.join(dir, "0640"), "utf8"), "old");
  assert.deepEqual(fs.readdirSync(dir).sort(), ["0640", "link"]);
}
