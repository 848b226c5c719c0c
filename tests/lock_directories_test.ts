/**
 * The lock in directories that do not behave like a plain one: an
 * append-only directory, where nothing can be renamed or removed, and an
 * overlay whose lower layer holds a dead holder's lock (a rename copies the
 * file up, with a new inode number).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { removeStaleTemps, updateFileAtomic } from "../mod.ts";
import { read, runtimeName, withTempDir } from "./_fixtures.ts";
import { lockChildSays, lockPathOf, startLockChild } from "./_lock_fixtures.ts";
import { mount, mountProblem } from "./_mounts.ts";
import { Skip, type Skippable, skipTest } from "./_skip.ts";

/**
 * Has a child on this runtime add a line to `target` with the `api` API;
 * what it printed, or "still waiting after 30 s".
 */
function updateInChild(target: string, api: string): string {
  return lockChildSays(["update", target, api], "still waiting after 30 s");
}

/** Makes `dir` append-only (`chattr +a`); why not, if it cannot. */
function appendOnly(dir: string): string | null {
  const made = spawnSync("chattr", ["+a", dir], { encoding: "utf8" });
  if (made.error || made.status !== 0) {
    return `cannot make a directory append-only here: ${
      made.error?.message ?? made.stderr.trim()
    }`;
  }
  return null;
}

test("updateFileAtomic() in an append-only directory fails with EPERM every time, and never waits forever", async (t) => {
  await withTempDir((dir) => {
    const files = path.join(dir, "append-only");
    fs.mkdirSync(files);
    const target = path.join(files, "f");
    fs.writeFileSync(target, "old\n");
    const problem = appendOnly(files);
    if (problem !== null) return void skipTest(t, problem);
    try {
      // Each failed update leaves its files, and those of the reclaims after
      // it: the next one meets a longer chain of dead reclaimers.
      const outcomes = ["async", "sync", "async", "sync", "async", "sync"].map(
        (api) => updateInChild(target, api),
      );
      assert.match(outcomes[0], /^EPERM rename:/);
      for (const outcome of outcomes.slice(1)) {
        assert.match(outcome, /^EPERM reclaim lock: .*append-only/);
        assert.doesNotMatch(outcome, /sticky/);
      }
      assert.equal(read(target), "old\n");
    } finally {
      spawnSync("chattr", ["-a", files]);
    }
  });
});

/** An overlay at `dir/merged` over `dir/lower`, where `prepare` made files first. */
function overlay(dir: string, prepare: (lower: string) => Promise<void>) {
  return async (t: Skippable) => {
    const problem = mountProblem();
    if (problem !== null) return void skipTest(t, problem);
    const [lower, upper, work, merged] = ["lower", "upper", "work", "merged"]
      .map((name) => path.join(dir, name));
    for (const made of [lower, upper, work]) fs.mkdirSync(made);
    await prepare(lower);
    try {
      return mount("overlay", merged, [
        "-t",
        "overlay",
        "-o",
        `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
        "atomic-test-overlay",
      ]);
    } catch (error) {
      if (error instanceof Skip) return void skipTest(t, error.message);
      throw error;
    }
  };
}

/** Leaves in `dir` the lock of `dir/f` of a holder killed with SIGKILL. */
async function deadHolderIn(dir: string): Promise<void> {
  fs.writeFileSync(path.join(dir, "f"), "old\n");
  const holder = startLockChild(runtimeName(), ["hold", path.join(dir, "f")]);
  await holder.waitFor((line) => line === "held");
  holder.kill("SIGKILL");
  await holder.ended;
}

test("removeStaleTemps() removes, and says it removed, a dead holder's lock in an overlay's lower layer", async (t) => {
  await withTempDir(async (dir) => {
    const merged = await overlay(dir, deadHolderIn)(t);
    if (!merged) return;
    try {
      const lock = lockPathOf(path.join(merged.dir, "f"));
      const removed = await removeStaleTemps(merged.dir, { olderThan: 0 });
      assert.ok(removed.includes(lock), `${lock} not in ${removed}`);
      assert.equal(fs.existsSync(lock), false);
      assert.deepEqual(
        await removeStaleTemps(merged.dir, { olderThan: 0 }),
        [],
      );
    } finally {
      merged.close();
    }
  });
});

test("updateFileAtomic() takes over at once a dead holder's lock in an overlay's lower layer", async (t) => {
  await withTempDir(async (dir) => {
    const merged = await overlay(dir, deadHolderIn)(t);
    if (!merged) return;
    try {
      const target = path.join(merged.dir, "f");
      const text = (bytes: Uint8Array | null) =>
        bytes === null ? "" : new TextDecoder().decode(bytes);
      // Well under the 10 s lease: the holder is provably gone.
      await updateFileAtomic(target, (old) => `${text(old)}new\n`, {
        timeout: 2500,
      });
      assert.equal(read(target), "old\nnew\n");
      assert.equal(fs.existsSync(lockPathOf(target)), false);
    } finally {
      merged.close();
    }
  });
});
