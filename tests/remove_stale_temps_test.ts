import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { removeStaleTemps, removeStaleTempsSync } from "../mod.ts";
import { tempName } from "../src/_temp_name.ts";
import { faultAdapter, using, withTempDir } from "./_fixtures.ts";

const HOUR = 60 * 60 * 1000;
/** A process id no process has: above Linux's largest `pid_max`. */
const DEAD_PID = 999_999_999;

/** Creates a temporary file of ours for `target`, made by `pid`, last modified `ageMs` ago. */
function temp(dir: string, target: string, pid: number, ageMs = 2 * HOUR) {
  const file = path.join(dir, tempName(target, pid));
  fs.writeFileSync(file, "partial");
  const when = (Date.now() - ageMs) / 1000;
  fs.utimesSync(file, when, when);
  return file;
}

/** The real adapter, except that only `alive` process ids are alive. */
function onlyAlive(...alive: number[]) {
  return faultAdapter([], { isProcessAlive: (pid) => alive.includes(pid) });
}

test("removeStaleTemps() removes a dead process's temp file and returns its path", async () => {
  await withTempDir(async (dir) => {
    const stale = temp(dir, "state.json", DEAD_PID);
    fs.writeFileSync(path.join(dir, "state.json"), "{}");
    const removed = await removeStaleTemps(dir, { olderThan: HOUR });
    assert.deepEqual(removed, [stale]);
    assert.deepEqual(fs.readdirSync(dir), ["state.json"]);
  });
});

test("removeStaleTempsSync() removes a dead process's temp file and returns its path", async () => {
  await withTempDir((dir) => {
    const stale = temp(dir, "state.json", DEAD_PID);
    assert.deepEqual(removeStaleTempsSync(dir, { olderThan: HOUR }), [stale]);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("removeStaleTemps() keeps a temp file of a live process", async () => {
  await withTempDir(async (dir) => {
    const mine = temp(dir, "a.txt", process.pid, 10 * HOUR);
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
    assert.deepEqual(removeStaleTempsSync(dir, { olderThan: 0 }), []);
    assert.ok(fs.existsSync(mine));
  });
});

test("removeStaleTemps() asks the adapter which processes are alive", async () => {
  await withTempDir(async (dir) => {
    const live = temp(dir, "a.txt", 4242);
    const dead = temp(dir, "b.txt", 4343);
    const removed = await using(
      onlyAlive(4242),
      () => removeStaleTemps(dir, { olderThan: 0 }),
    );
    assert.deepEqual(removed, [dead]);
    assert.ok(fs.existsSync(live));
  });
});

test("removeStaleTemps() keeps a dead process's temp file younger than olderThan", async () => {
  await withTempDir(async (dir) => {
    const young = temp(dir, "a.txt", DEAD_PID, 60_000);
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: HOUR }), []);
    assert.ok(fs.existsSync(young));
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 30_000 }), [
      young,
    ]);
  });
});

test("removeStaleTemps() defaults olderThan to one hour", async () => {
  await withTempDir(async (dir) => {
    const recent = temp(dir, "a.txt", DEAD_PID, HOUR / 2);
    const old = temp(dir, "b.txt", DEAD_PID, 2 * HOUR);
    assert.deepEqual(await removeStaleTemps(dir), [old]);
    assert.deepEqual(removeStaleTempsSync(dir, {}), []);
    assert.ok(fs.existsSync(recent));
  });
});

test("removeStaleTemps() keeps files that only look like temp files", async () => {
  await withTempDir(async (dir) => {
    const names = [
      "notes.atomic-tmp",
      `.a.txt.${DEAD_PID}-xyz.atomic-tmp`,
      `.a.txt.${DEAD_PID}-0123456789ab.atomic-tmp.bak`,
      `a.txt.${DEAD_PID}-0123456789ab.atomic-tmp`,
      "a.txt",
    ];
    for (const name of names) {
      fs.writeFileSync(path.join(dir, name), "x");
      const when = (Date.now() - 2 * HOUR) / 1000;
      fs.utimesSync(path.join(dir, name), when, when);
    }
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
    assert.deepEqual(fs.readdirSync(dir).sort(), names.sort());
  });
});

test("removeStaleTemps() keeps a directory or symbolic link with a temp file name", async () => {
  await withTempDir(async (dir) => {
    const subdir = path.join(dir, tempName("d", DEAD_PID));
    fs.mkdirSync(subdir);
    const link = path.join(dir, tempName("l", DEAD_PID));
    fs.symlinkSync(path.join(dir, "elsewhere"), link);
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
    assert.ok(fs.existsSync(subdir));
    assert.ok(fs.lstatSync(link).isSymbolicLink());
  });
});

test("removeStaleTemps() accepts a file: URL and returns paths sorted by name", async () => {
  await withTempDir(async (dir) => {
    const b = temp(dir, "b", DEAD_PID);
    const a = temp(dir, "a", DEAD_PID);
    const removed = await removeStaleTemps(pathToFileURL(dir), {
      olderThan: 0,
    });
    assert.deepEqual(removed, [a, b]);
  });
});

test("removeStaleTemps() skips a temp file that another sweeper removed first", async () => {
  await withTempDir(async (dir) => {
    const gone = temp(dir, "a.txt", DEAD_PID);
    const kept = temp(dir, "b.txt", DEAD_PID);
    const adapter = faultAdapter([
      { op: "remove", code: "ENOENT", where: (args) => args[0] === gone },
    ], { isProcessAlive: () => false });
    const removed = await using(
      adapter,
      () => removeStaleTemps(dir, { olderThan: 0 }),
    );
    assert.deepEqual(removed, [kept]);
  });
});

test("removeStaleTemps() rejects with the code when a stale file cannot be removed", async () => {
  await withTempDir(async (dir) => {
    const stuck = temp(dir, "a.txt", DEAD_PID);
    const adapter = faultAdapter([{ op: "remove", code: "EACCES" }], {
      isProcessAlive: () => false,
    });
    await using(adapter, async () => {
      await assert.rejects(
        removeStaleTemps(dir, { olderThan: 0 }),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, "EACCES");
          assert.match(error.message, /remove ".*a\.txt.*" failed \(EACCES\)/);
          return true;
        },
      );
    });
    assert.ok(fs.existsSync(stuck));
  });
});

test("removeStaleTemps() rejects with ENOENT for a missing directory", async () => {
  await withTempDir(async (dir) => {
    const missing = path.join(dir, "missing");
    await assert.rejects(removeStaleTemps(missing), { code: "ENOENT" });
    assert.throws(() => removeStaleTempsSync(missing), { code: "ENOENT" });
  });
});

test("removeStaleTemps() rejects bad arguments with TypeError or RangeError", async () => {
  const bad = (value: unknown) => value as never;
  await assert.rejects(removeStaleTemps(bad(42)), TypeError);
  await assert.rejects(removeStaleTemps(""), TypeError);
  await assert.rejects(removeStaleTemps(".", bad("soon")), TypeError);
  await assert.rejects(
    removeStaleTemps(".", { olderThan: bad("1h") }),
    TypeError,
  );
  await assert.rejects(removeStaleTemps(".", { olderThan: -1 }), RangeError);
  await assert.rejects(removeStaleTemps(".", { olderThan: NaN }), RangeError);
  assert.throws(() => removeStaleTempsSync(bad(null)), TypeError);
  assert.throws(() => removeStaleTempsSync(".", { olderThan: -5 }), RangeError);
});
