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
import { backdate, DEAD_PID, root } from "./_fixtures.ts";
import { writeFakeLock } from "./_lock_fixtures.ts";
import { tempName } from "../src/_temp_name.ts";

const DAY = 24 * 60 * 60 * 1000;

/** The child that runs every core behaviour in the directory it is given. */
export const permissionsChild: string = path.join(
  root,
  "tests",
  "_permissions_child.ts",
);

/** A dead writer's temporary file, two days old: stale by age alone, whoever sweeps. */
export const STALE_TEMP: string = tempName("gone.txt", { pid: DEAD_PID });
/** A directory holding only a dead holder's lock file, two days old: its lease ran out long ago. */
const STALE_LOCK = path.join("locks", ".gone.json.atomic-lock");

/**
 * Puts the files the behaviours expect in `dir` (a 0640 file holding "old",
 * a link to it, `STALE_TEMP`, and a stale lock in `locks/`), runs `command` followed by `dir`, and
 * parses what the child printed.
 */
export function permissionReport(
  dir: string,
  command: string[],
): Record<string, string> {
  fs.writeFileSync(path.join(dir, "0640"), "old", { mode: 0o640 });
  fs.chmodSync(path.join(dir, "0640"), 0o640);
  fs.symlinkSync("0640", path.join(dir, "link"));
  fs.writeFileSync(path.join(dir, STALE_TEMP), "partial");
  backdate(path.join(dir, STALE_TEMP), 2 * DAY);
  fs.mkdirSync(path.join(dir, "locks"));
  writeFakeLock(
    path.join(dir, "locks", "gone.json"),
    { pid: DEAD_PID },
    2 * DAY,
  );
  const [program, ...args] = command;
  const run = spawnSync(program, [...args, dir], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout);
}

/**
 * Asserts that the files `permissionReport` made are as they were (but the
 * stale temporary file, where it was `swept`), and nothing else is in `dir`.
 */
export function leftAsItWas(dir: string, swept = false): void {
  assert.equal(fs.readFileSync(path.join(dir, "0640"), "utf8"), "old");
  const made = ["0640", "link", "locks", ...(swept ? [] : [STALE_TEMP])];
  assert.deepEqual(fs.readdirSync(dir).sort(), made.sort());
  assert.equal(fs.existsSync(path.join(dir, STALE_LOCK)), !swept);
}
