/**
 * The Deno permission matrix: the core behaviours under `-A`, under
 * `--allow-read --allow-write` only, under the set the README recommends,
 * and under permissions scoped to the one directory. Each behaviour works or
 * fails with a clear error, never with a wrong outcome. The test spawns Deno
 * whatever runtime runs it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { root, withTempDir } from "./_fixtures.ts";
import {
  leftAsItWas,
  permissionReport,
  permissionsChild,
} from "./_permission_report.ts";

const deno = path.join(root, "node_modules", ".bin", "deno");
const noDeno = fs.existsSync(deno) ? false : "Deno is not installed here";

/** Runs the child in a fresh `dir` under `flags`; its report. */
function runUnder(
  dir: string,
  flags: (dir: string) => string[],
): Record<string, string> {
  return permissionReport(dir, [deno, "run", ...flags(dir), permissionsChild]);
}

/** Asserts that every behaviour in `report` worked. */
function allWork(report: Record<string, string>): void {
  assert.ok(Object.keys(report).length >= 10, JSON.stringify(report));
  for (const [name, outcome] of Object.entries(report)) {
    assert.equal(outcome, "ok", name);
  }
}

const sets: [string, (dir: string) => string[]][] = [
  ["-A", () => ["-A"]],
  ["--allow-read --allow-write", () => ["--allow-read", "--allow-write"]],
  ["the README's set (the directory, and uid and gid)", (dir) => [
    `--allow-read=${dir}`,
    `--allow-write=${dir}`,
    "--allow-sys=uid,gid",
  ]],
  ["read and write for the directory only", (dir) => [
    `--allow-read=${dir}`,
    `--allow-write=${dir}`,
  ]],
];

for (const [name, flags] of sets) {
  test(
    `Deno with ${name}: every core behaviour works`,
    { skip: noDeno },
    async () => {
      await withTempDir((dir) => allWork(runUnder(dir, flags)));
    },
  );
}

test(
  "Deno without --allow-write: every write fails with EACCES naming the flag",
  {
    skip: noDeno,
  },
  async () => {
    await withTempDir((dir) => {
      const report = runUnder(dir, () => ["--allow-read"]);
      for (const [name, outcome] of Object.entries(report)) {
        assert.match(outcome, /^EACCES: .*--allow-write/, name);
      }
      leftAsItWas(dir);
    });
  },
);

/** Runs `atomic-write ARGS` on Deno under `flags` in `dir`; its exit status and error output. */
function cliUnder(
  dir: string,
  flags: string[],
  args: string[],
): { status: number | null; stderr: string } {
  const run = spawnSync(
    deno,
    ["run", ...flags, path.join(root, "cli.ts"), ...args],
    { cwd: dir, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
  );
  return { status: run.status, stderr: run.stderr };
}

/** The flags atomic-write --update runs under, without one it needs, and how it exits then. */
const missingForUpdate: [string, string[], number][] = [
  ["--allow-run", ["--allow-read", "--allow-write", "--allow-env"], 127],
  ["--allow-env", ["--allow-read", "--allow-write", "--allow-run"], 127],
];

for (const [missing, flags, status] of missingForUpdate) {
  test(
    `atomic-write --update on Deno without ${missing} fails with EACCES naming the flag`,
    { skip: noDeno },
    async () => {
      await withTempDir((dir) => {
        const run = cliUnder(dir, flags, [
          "--update",
          "f",
          "--",
          "echo",
          "new",
        ]);
        assert.equal(run.status, status, run.stderr);
        assert.ok(
          run.stderr.endsWith(` ${missing} flag (EACCES)\n`),
          run.stderr,
        );
        assert.deepEqual(fs.readdirSync(dir), []);
      });
    },
  );
}

test(
  "atomic-write --update on Deno with read permission for FILE alone fails with EACCES naming --allow-read, and leaves nothing",
  { skip: noDeno },
  async () => {
    await withTempDir((dir) => {
      fs.writeFileSync(path.join(dir, "f"), "old");
      const flags = [
        "--no-prompt",
        `--allow-read=${path.join(dir, "f")}`,
        `--allow-write=${dir}`,
        "--allow-run",
        "--allow-env",
      ];
      const run = cliUnder(dir, flags, ["--update", "f", "--", "cat"]);
      assert.equal(run.status, 1, run.stderr);
      assert.match(run.stderr, /look at lock .*--allow-read flag/);
      assert.deepEqual(fs.readdirSync(dir), ["f"]);
      assert.equal(fs.readFileSync(path.join(dir, "f"), "utf8"), "old");
    });
  },
);
