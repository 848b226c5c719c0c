/**
 * A lock is known by its record where the names of one file have numbers of
 * their own (sshfs numbers every name it looks up: the lock's name and the
 * holder's own name for it never share an inode number there).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { lockFile, updateFileAtomic, updateFileAtomicSync } from "../mod.ts";
import type { EntryInfo } from "../src/runtime/types.ts";
import {
  type FaultAdapter,
  faultAdapter,
  read,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { locksUnder } from "./_lock_fixtures.ts";

/** `entry` as sshfs would describe the lock's own name: a number of its own. */
function numbered(path: string, entry: EntryInfo | null): EntryInfo | null {
  return entry !== null && path.endsWith(".atomic-lock")
    ? { ...entry, id: `${entry.id}:name` }
    : entry;
}

/** The real adapter, with the lock's name numbered apart from the file's other names. */
function numberingNames(): FaultAdapter {
  const adapter = faultAdapter([]);
  const { sync, async } = adapter;
  const [lstat, stat] = [sync.lstat, sync.stat];
  sync.lstat = (p) => numbered(p, lstat(p));
  sync.stat = (p) => numbered(p, stat(p));
  const [lstatAsync, statAsync] = [async.lstat, async.stat];
  async.lstat = async (p) => numbered(p, await lstatAsync(p));
  async.stat = async (p) => numbered(p, await statAsync(p));
  return adapter;
}

const increment = (current: Uint8Array | null): string =>
  String(Number(current === null ? 0 : new TextDecoder().decode(current)) + 1);

test("updateFileAtomic() and updateFileAtomicSync() commit where a file's names are numbered apart (sshfs)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "counter");
    await using(numberingNames(), async () => {
      await updateFileAtomic(target, increment);
      updateFileAtomicSync(target, increment);
    });
    assert.equal(read(target), "2");
    assert.deepEqual(locksUnder(dir), []);
    assert.deepEqual(tempsIn(dir), []);
    assert.deepEqual(fs.readdirSync(dir), ["counter"]);
  });
});

test("lockFile() keeps its lock past heartbeats where a file's names are numbered apart (sshfs)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "state");
    await using(numberingNames(), async () => {
      const lock = await lockFile(target, { lease: 2000 });
      // Two heartbeats (every lease / 5) at least.
      await new Promise((resolve) => setTimeout(resolve, 900));
      assert.equal(lock.signal.aborted, false);
      await lock.release();
    });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});
