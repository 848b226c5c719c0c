/**
 * Who this process and thread are (`runtime/_writer_identity.ts`), as
 * temporary file names and lock records name them: read once and kept,
 * but not when a transient failure (out of descriptors) kept /proc from
 * telling, which would leave every later file of the process with a bare
 * process id that no sweeper or waiter can judge.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { root, scriptCommand, systemError, withTempDir } from "./_fixtures.ts";
import { procWriters } from "../src/runtime/_writer_identity.ts";
import { detectAdapter } from "../src/runtime/detect.ts";
import { isKnownWriter, tempNameOwner } from "../src/_temp_name.ts";

const procTells = isKnownWriter(detectAdapter().writer())
  ? false
  : "this runtime cannot read /proc here";

/** /proc through `node:fs`, failing with `code` while `failing()` says so. */
function readerFailing(code: string, failing: () => boolean) {
  const fail = () => {
    if (failing()) throw systemError(code, "open");
  };
  return {
    readText: (name: string) => (fail(), fs.readFileSync(name, "latin1")),
    readLink: (name: string) => (fail(), fs.readlinkSync(name)),
  };
}

// A transient failure is read again; a lasting one (no permission) is kept.
for (
  const [code, outcome, readAgain] of [
    ["EMFILE", "is read again", true],
    ["EACCES", "is not read again", false],
  ] as const
) {
  test(`the writer identity ${outcome} after /proc failed with ${code}`, {
    skip: procTells,
  }, () => {
    let failing = true;
    const writers = procWriters(
      readerFailing(code, () => failing),
      () => process.pid,
    );
    assert.deepEqual(writers.writer(), { pid: process.pid });
    failing = false;
    assert.equal(isKnownWriter(writers.writer()), readAgain);
  });
}

const noPrlimit =
  ["/usr/bin/prlimit", "/bin/prlimit"].some((exe) => fs.existsSync(exe))
    ? false
    : "prlimit (util-linux) is not installed";

test(
  "a process that once ran out of descriptors names itself in full in its later temporary files and lock records",
  {
    skip: procTells || noPrlimit,
  },
  async () => {
    await withTempDir((dir) => {
      const child = path.join(root, "tests", "_identity_child.ts");
      const run = spawnSync(
        "prlimit",
        ["--nofile=256", ...scriptCommand(child, [dir])],
        { encoding: "utf8" },
      );
      assert.equal(run.status, 0, run.stderr);
      const { record, temps } = JSON.parse(run.stdout);
      assert.notEqual(record.boot, "", run.stdout);
      assert.notEqual(record.start, "", run.stdout);
      assert.equal(temps.length, 1, run.stdout);
      const owner = tempNameOwner(temps[0]);
      assert.ok(owner !== null && isKnownWriter(owner), temps[0]);
    });
  },
);
