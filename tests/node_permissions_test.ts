/**
 * Node's permission model (`--permission`): the core behaviours with the
 * directory allowed, and without `--allow-fs-write`. The model disables
 * `fsync`, `fchmod` and `fchown` outright (a descriptor names no path to
 * check), so a durable write, or any replacement of an existing file, cannot
 * be made there: each fails with `EACCES` and Node's words for it, leaves
 * the files as they were and nothing behind; what needs none of those calls
 * works. The test spawns Node 24 and Node 22 whatever runtime runs it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { root, withTempDir } from "./_fixtures.ts";
import {
  leftAsItWas,
  permissionReport,
  permissionsChild,
} from "./_permission_report.ts";

const nodes: [string, string][] = [
  ["Node 24", path.join(root, "node_modules", "node", "bin", "node")],
  ["Node 22", path.join(root, "node_modules", "node22", "bin", "node")],
];

/** What works under the permission model, given read and write of the directory. */
const NEEDS_NO_FSYNC = [
  "writeFileAtomic() with fsync: false creates a file",
  "lockFile() locks and releases",
  "makeTempFile() makes and removes a file",
  "removeStaleTemps() removes a dead writer's old temporary file",
  "removeStaleTemps() removes a dead holder's lock",
];

for (const [name, node] of nodes) {
  const skip = fs.existsSync(node) ? false : `${name} is not installed here`;
  /** The child's report under the permission model, reading the checkout and `dir`, with `more` flags. */
  const reportUnder = (dir: string, more: string[]) =>
    permissionReport(dir, [
      node,
      "--permission",
      `--allow-fs-read=${root}`,
      `--allow-fs-read=${dir}`,
      ...more,
      permissionsChild,
    ]);

  test(
    `${name} with --permission: a durable write fails with EACCES saying the model disables fsync`,
    { skip },
    async () => {
      await withTempDir((dir) => {
        const report = reportUnder(dir, [`--allow-fs-write=${dir}`]);
        assert.ok(Object.keys(report).length >= 13, JSON.stringify(report));
        for (const [behaviour, outcome] of Object.entries(report)) {
          if (NEEDS_NO_FSYNC.includes(behaviour)) {
            assert.equal(outcome, "ok", behaviour);
          } else {
            assert.match(
              outcome,
              /^EACCES: .*\(EACCES: f(sync|chmod) API is disabled when Permission Model is enabled\.\)$/,
              behaviour,
            );
          }
        }
        fs.rmSync(path.join(dir, "unsynced"));
        leftAsItWas(dir, true);
      });
    },
  );

  test(
    `${name} with --permission but without --allow-fs-write: every write fails with EACCES naming the flag`,
    { skip },
    async () => {
      await withTempDir((dir) => {
        const report = reportUnder(dir, []);
        for (const [behaviour, outcome] of Object.entries(report)) {
          assert.match(outcome, /^EACCES: .*--allow-fs-write/, behaviour);
        }
        leftAsItWas(dir);
      });
    },
  );
}
