/**
 * A directory renamed while a write into it is in flight: the write fails,
 * and its temporary file is removed where the directory went (the open
 * descriptor knows, through /proc/self/fd), not left under a live writer.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { AtomicWriteError, openAtomic } from "../mod.ts";
import { tempsIn, withTempDir } from "./_fixtures.ts";

/** Opens a write of `dir/sub/f.txt` with 1 MiB written, then renames `sub` to `moved`. */
async function writeThenMove(dir: string) {
  fs.mkdirSync(path.join(dir, "sub"));
  const file = await openAtomic(path.join(dir, "sub", "f.txt"));
  await file.write(new Uint8Array(1 << 20));
  fs.renameSync(path.join(dir, "sub"), path.join(dir, "moved"));
  return { file, moved: path.join(dir, "moved") };
}

test("AtomicFile.commit() rejects and removes the temp file of a long write whose directory was renamed", async () => {
  await withTempDir(async (dir) => {
    const { file, moved } = await writeThenMove(dir);
    assert.equal(tempsIn(moved).length, 1);
    // A long write: commit() asks the descriptor where the file is only then.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await assert.rejects(
      file.commit(),
      (e) => e instanceof AtomicWriteError && e.code === "ENOENT",
    );
    assert.deepEqual(fs.readdirSync(moved), []);
  });
});

test("AtomicFile.abort() removes the temp file where its renamed directory went", async () => {
  await withTempDir(async (dir) => {
    const { file, moved } = await writeThenMove(dir);
    await file.abort();
    assert.deepEqual(fs.readdirSync(moved), []);
  });
});
