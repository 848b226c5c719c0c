/**
 * Whatever another user or a mistake put at a lock file's name is refused
 * before it is read: a lock never reads without end (a link to /dev/zero),
 * never blocks for good (a FIFO), and never reads a file another user
 * planted in a shared sticky directory.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { lockFile, lockFileSync } from "../mod.ts";
import {
  canDropPrivileges,
  failsWith,
  root,
  using,
  withTempDir,
} from "./_fixtures.ts";
import {
  lockChildSays,
  lockPathOf,
  swappingInLink,
  writeFakeLock,
} from "./_lock_fixtures.ts";
import { mkfifo } from "./_path_fixtures.ts";

/** The Deno executable the tests' children run on. */
const deno = path.join(root, "node_modules", ".bin", "deno");
import {
  NOBODY,
  notRoot,
  stickyDir,
  withProtections,
} from "./_sticky_fixtures.ts";
import { skipTest } from "./_skip.ts";

/**
 * Has a child on this runtime try the lock of `target` with the `api` API
 * ("async" or "sync"); what it printed, or "killed" if it had not finished
 * after 30 s (a read that never ends).
 */
function tryLockInChild(target: string, api: string): string {
  return lockChildSays(["try", target, api], "killed");
}

const planted: [string, (lock: string) => string | null][] = [
  [
    "a link to /dev/zero",
    (lock) => {
      fs.symlinkSync("/dev/zero", lock);
      return null;
    },
  ],
  ["a FIFO", mkfifo],
  ["a file larger than any lock record", (lock) => {
    fs.writeFileSync(lock, "");
    fs.truncateSync(lock, 2 ** 32); // 4 GiB, sparse: no disk used
    return null;
  }],
];

for (const api of ["async", "sync"]) {
  const name = api === "sync" ? "lockFileSync()" : "lockFile()";
  for (const [what, plant] of planted) {
    test(`${name} refuses ${what} at the lock's name with EEXIST, without reading it`, async (t) => {
      await withTempDir((dir) => {
        const target = path.join(dir, "state.json");
        fs.writeFileSync(target, "{}");
        const skip = plant(lockPathOf(target));
        if (skip !== null) return void skipTest(t, skip);
        assert.equal(tryLockInChild(target, api), "EEXIST");
        assert.deepEqual(fs.readdirSync(dir).sort(), [
          path.basename(lockPathOf(target)),
          "state.json",
        ]);
      });
    });
  }
}

test(
  "lockFile() refuses with EACCES a lock file another user made in a sticky directory",
  { skip: notRoot },
  async () => {
    await withTempDir(async (dir) => {
      const shared = stickyDir(dir);
      const target = path.join(shared, "state.json");
      const lock = lockPathOf(target);
      fs.writeFileSync(lock, "planted\n");
      fs.chownSync(lock, NOBODY, NOBODY);
      await withProtections(async () => {
        const error = await failsWith(
          lockFile(target, { timeout: 0 }),
          "EACCES",
        );
        assert.match(error.message, /belongs to another user \(uid 65534\)/);
      });
      assert.equal(fs.readFileSync(lock, "utf8"), "planted\n");
    });
  },
);

/** Whether `nobody` can read `file` (`cat` as nobody: no checkout needed). */
function nobodyCanRead(file: string): boolean {
  const run = spawnSync("setpriv", [
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    "cat",
    file,
  ]);
  return run.status === 0;
}

test(
  "lockFile() keeps its lock file unreadable to other users in a shared sticky directory (its token names the reclaim mutex)",
  { skip: canDropPrivileges() ?? false },
  async () => {
    await withTempDir(async (dir) => {
      fs.chmodSync(dir, 0o755);
      const shared = stickyDir(dir);
      const target = path.join(shared, "state.json");
      const lock = await lockFile(target);
      try {
        assert.ok(fs.existsSync(lock.lockPath));
        assert.equal(nobodyCanRead(lock.lockPath), false);
      } finally {
        await lock.release();
      }
    });
  },
);

test(
  "lockFile() still lets other users read its lock file outside a sticky directory",
  { skip: canDropPrivileges() ?? false },
  async () => {
    await withTempDir(async (dir) => {
      fs.chmodSync(dir, 0o755);
      const lock = await lockFile(path.join(dir, "state.json"));
      try {
        assert.equal(nobodyCanRead(lock.lockPath), true);
      } finally {
        await lock.release();
      }
    });
  },
);

test(
  "lockFile() on Deno without --allow-sys says its own uid is unknown when it refuses a lock file in a sticky directory",
  { skip: notRoot },
  async () => {
    await withTempDir(async (dir) => {
      fs.chmodSync(dir, 0o755);
      const shared = stickyDir(dir);
      fs.chownSync(shared, NOBODY, NOBODY);
      const target = path.join(shared, "state.json");
      const lock = writeFakeLock(target, {});
      const said = await withProtections(() =>
        Promise.resolve(
          spawnSync(deno, [
            "run",
            "--allow-read",
            "--allow-write",
            path.join(root, "tests", "_sweep_child.ts"),
            "update",
            target,
          ], { encoding: "utf8" }).stdout.trim(),
        )
      );
      assert.match(said, /^EACCES /);
      assert.match(said, /own uid is unknown/);
      assert.doesNotMatch(said, /another user/);
      assert.ok(fs.existsSync(lock));
    });
  },
);

for (
  const [name, take] of [
    ["lockFile()", (target: string) => lockFile(target, { timeout: 0 })],
    [
      "lockFileSync()",
      (target: string) =>
        Promise.resolve().then(() => lockFileSync(target, { timeout: 0 })),
    ],
  ] as const
) {
  test(`${name} refuses with EEXIST a link renamed to the lock's name after its look, as one seen there`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "state.json");
      const lock = writeFakeLock(target, {});
      await using(
        swappingInLink(lock),
        () => failsWith(take(target), "EEXIST"),
      );
      assert.equal(fs.readlinkSync(lock), "/etc/hostname");
    });
  });
}
