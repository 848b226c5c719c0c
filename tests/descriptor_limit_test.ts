/**
 * Bursts under a low `ulimit -n`, in a child on the test's runtime
 * (`_burst_child.ts`): as many updates or writes called at once as the
 * descriptor table has room for (one descriptor each, their directory's,
 * one to spare) all succeed, on files new and existing; and a table full
 * of the process's own files fails them with `EMFILE` at once, never a
 * wait. How the library waits for room is `full_table_test.ts`.
 *
 * Rerun one case: `bash -c 'ulimit -n 256; exec node tests/_burst_child.ts
 * update "$(mktemp -d)" 256'`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { withTempDir } from "./_fixtures.ts";
import { CHILD_TEST, childCommand } from "./_running.ts";

const onLinux = process.platform === "linux";

/** Runs `_burst_child.ts MODE DIR LIMIT` under `ulimit -n LIMIT`; what it printed. */
function burst(
  mode: string,
  dir: string,
  limit: number,
): Record<string, unknown> {
  const command = childCommand("_burst_child.ts", [mode, dir, String(limit)]);
  const run = spawnSync(
    "bash",
    ["-c", `ulimit -n ${limit} && exec "$@"`, "bash", ...command],
    { encoding: "utf8", timeout: 100_000 },
  );
  assert.equal(run.status, 0, `${run.stderr}${run.error ?? ""}`);
  return JSON.parse(run.stdout);
}

/** The descriptor limit of the bursts: room for 230 calls or so. */
const LIMIT = 256;

for (
  const [mode, what] of [
    ["update", "updateFileAtomic() of files that exist"],
    ["update-mixed", "updateFileAtomic() of files new and existing"],
    ["write", "writeFileAtomic()"],
  ]
) {
  test(
    `${what}: as many calls at once as the descriptor table has room for all succeed`,
    { ...CHILD_TEST, skip: !onLinux && "ulimit and /proc/self/fd are Linux's" },
    async () => {
      await withTempDir((dir) => {
        const outcome = burst(mode, dir, LIMIT);
        assert.ok((outcome.calls as number) > LIMIT / 2, String(outcome.calls));
        assert.deepEqual(
          { failed: outcome.failed, stale: outcome.stale },
          { failed: 0, stale: 0 },
          String(outcome.first),
        );
      });
    },
  );
}

test(
  "updateFileAtomic() and writeFileAtomic() reject with EMFILE at once where the table is full of the process's own files",
  { ...CHILD_TEST, skip: !onLinux && "ulimit and /proc/self/fd are Linux's" },
  async () => {
    await withTempDir((dir) => {
      const outcome = burst("full", dir, 64);
      assert.equal(outcome.update, "EMFILE");
      assert.equal(outcome.write, "EMFILE");
      assert.ok((outcome.ms as number) < 5_000, `${outcome.ms} ms`);
      assert.deepEqual(fs.readFileSync(path.join(dir, "f"), "utf8"), "old");
    });
  },
);
