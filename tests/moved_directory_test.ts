/**
 * A directory renamed while a write into it is in flight. Where the write
 * holds the directory open (see "Directories other users may write to"), it
 * acts in the directory it found, wherever that went, as a plain write's
 * open file does. Where it names its files by path, the write fails, and
 * its temporary file is removed where the directory went (the open
 * descriptor knows, through /proc/self/fd), not left under a live writer;
 * but never where the descriptor's path leads to another file (a file
 * system unmounted lazily names its files from its own root).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { AtomicWriteError, openAtomic } from "../mod.ts";
import {
  tempsIn,
  using,
  withoutHeldDirectories,
  withTempDir,
} from "./_fixtures.ts";
import { sh } from "./_commands.ts";
import { mountProblem, mountTmpfs } from "./_mounts.ts";

/** Opens a write of `dir/sub/f.txt` with 1 MiB written, then renames `sub` to `moved`. */
async function writeThenMove(dir: string) {
  fs.mkdirSync(path.join(dir, "sub"), { recursive: true });
  const file = await openAtomic(path.join(dir, "sub", "f.txt"));
  await file.write(new Uint8Array(1 << 20));
  fs.renameSync(path.join(dir, "sub"), path.join(dir, "moved"));
  return { file, moved: path.join(dir, "moved") };
}

test(
  "AtomicFile.commit() of root's write of an existing file whose directory was renamed replaces the file in the directory where it went",
  {
    skip: process.getuid?.() === 0
      ? false
      : "only root holds the directory of its own files open",
  },
  async () => {
    await withTempDir(async (dir) => {
      fs.mkdirSync(path.join(dir, "sub"));
      fs.writeFileSync(path.join(dir, "sub", "f.txt"), "old");
      const { file, moved } = await writeThenMove(dir);
      await file.commit();
      assert.deepEqual(fs.readdirSync(moved), ["f.txt"]);
      assert.equal(fs.statSync(path.join(moved, "f.txt")).size, 1 << 20);
    });
  },
);

test("AtomicFile.commit() that names its files by path rejects and removes the temp file of a long write whose directory was renamed", async () => {
  await withTempDir(async (dir) => {
    await using(withoutHeldDirectories(), () => moveAndFailCommit(dir));
  });
});

/** `writeThenMove`, then a commit after more than a second, which fails with `ENOENT`, its temporary file removed. */
async function moveAndFailCommit(dir: string): Promise<void> {
  const { file, moved } = await writeThenMove(dir);
  assert.equal(tempsIn(moved).length, 1);
  // A long write: commit() asks the descriptor where the file is only then.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await assert.rejects(
    file.commit(),
    (e) => e instanceof AtomicWriteError && e.code === "ENOENT",
  );
  assert.deepEqual(fs.readdirSync(moved), []);
}

test("AtomicFile.abort() removes the temp file where its renamed directory went", async () => {
  await withTempDir(async (dir) => {
    const { file, moved } = await writeThenMove(dir);
    await file.abort();
    assert.deepEqual(fs.readdirSync(moved), []);
  });
});

test(
  "AtomicFile.abort() after the file system of its directory was unmounted lazily leaves the file that the kernel's path of its temporary file leads to here",
  { skip: mountProblem() ?? false },
  async () => {
    await withTempDir(async (dir) => {
      // Inside the tmpfs, the target's directory is at `dir` again: once the
      // tmpfs is unmounted lazily, /proc/self/fd names the temporary file
      // from the tmpfs's own root, `dir/<its name>`, which here is a file of
      // someone else's.
      const tmpfs = mountTmpfs("atomic-test-lazy", path.join(dir, "mnt"), "1m");
      let mounted = true;
      try {
        const inside = path.join(tmpfs.dir, dir);
        fs.mkdirSync(inside, { recursive: true });
        await using(withoutHeldDirectories(), async () => {
          const file = await openAtomic(path.join(inside, "f.txt"));
          await file.write("new");
          const [temp] = tempsIn(inside);
          fs.writeFileSync(path.join(dir, temp), "someone else's");
          sh("umount", "-l", tmpfs.dir);
          mounted = false;
          await file.abort();
          const left = fs.readFileSync(path.join(dir, temp), "utf8");
          assert.equal(left, "someone else's");
        });
      } finally {
        if (mounted) tmpfs.close();
      }
    });
  },
);
