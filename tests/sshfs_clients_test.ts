/**
 * Two sshfs clients of one directory, as two hosts that share it: each
 * client's kernel caches a file's attributes, and one that read a file's
 * old length reads the new content cut there (see "Network file systems" in
 * the README). Mounted as the README says, updates made through both
 * exclude each other and lose nothing. Through one client, where each name
 * of a file has an inode number of its own, a thread still knows the locks
 * it holds.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { AtomicWriteError, lockFile, updateFileAtomicSync } from "../mod.ts";
import { withTempDir } from "./_fixtures.ts";
import {
  contention,
  MIXED_WORKERS,
  otherRuntimesMissing,
} from "./_lock_fixtures.ts";
import { type Mount, mountProblem } from "./_mounts.ts";
import { mountSshfs } from "./fs/_sshfs.ts";
import { Skip, skipTest } from "./_skip.ts";

/** What the README asks of every client that shares a directory. */
const CLIENT_OPTIONS = ["attr_timeout=0", "entry_timeout=0", "dir_cache=no"];
const INCREMENTS = 15;

/**
 * Mounts `exported` at `dir/NAME` as one client, with `options` (by
 * default what the README asks of several), or throws a `Skip`.
 */
function client(
  dir: string,
  exported: string,
  name: string,
  options: readonly string[] = CLIENT_OPTIONS,
): Promise<Mount> {
  return mountSshfs(
    `atomic-test-sshfs-${name}`,
    path.join(dir, `home-${name}`),
    exported,
    path.join(dir, name),
    options,
  );
}

test(
  "updates of one counter by Deno, Bun and Node processes through two sshfs clients of its directory, mounted with attr_timeout=0,entry_timeout=0,dir_cache=no, exclude each other and lose none",
  { skip: mountProblem() ?? otherRuntimesMissing() ?? false },
  async (t) => {
    await withTempDir(async (dir) => {
      const exported = path.join(dir, "export");
      fs.mkdirSync(exported);
      const clients: Mount[] = [];
      try {
        try {
          clients.push(await client(dir, exported, "a"));
          clients.push(await client(dir, exported, "b"));
        } catch (error) {
          if (error instanceof Skip) return skipTest(t, error.message);
          throw error;
        }
        const targets = clients.map((c) => path.join(c.dir, "counter.json"));
        const result = await contention(targets, MIXED_WORKERS, INCREMENTS);
        const total = MIXED_WORKERS.length * INCREMENTS;
        assert.deepEqual(result.duplicates, []);
        assert.equal(result.final, total);
        assert.deepEqual(
          [...result.acks].sort((a, b) => a - b),
          Array.from({ length: total }, (_, i) => i + 1),
        );
      } finally {
        for (const c of clients.reverse()) c.close();
      }
    });
  },
);

test(
  "updateFileAtomicSync() through sshfs fails with EDEADLK at once while this thread holds the file's lock",
  { skip: mountProblem() ?? false },
  async (t) => {
    await withTempDir(async (dir) => {
      const exported = path.join(dir, "export");
      fs.mkdirSync(exported);
      let mount: Mount;
      try {
        mount = await client(dir, exported, "a", []);
      } catch (error) {
        if (error instanceof Skip) return skipTest(t, error.message);
        throw error;
      }
      try {
        const target = path.join(mount.dir, "f");
        const lock = await lockFile(target, { lease: 3_000 });
        try {
          const started = performance.now();
          // Without the record, it waited out the lease, then took the lock
          // from its holder (whose signal aborted with ELOCKLOST).
          assert.throws(
            () => updateFileAtomicSync(target, () => "inner\n"),
            (e) => e instanceof AtomicWriteError && e.code === "EDEADLK",
          );
          assert.ok(performance.now() - started < 2_000);
          assert.equal(lock.signal.aborted, false);
        } finally {
          await lock.release();
        }
        assert.equal(fs.existsSync(target), false);
      } finally {
        mount.close();
      }
    });
  },
);
