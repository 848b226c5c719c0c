/**
 * Another user who may rename entries in the target's directory (a
 * directory of theirs that root writes to) can put something else at the
 * temporary file's name between its creation and its chown or chmod. The
 * chown and chmod act on the file the writer has open, never on what the
 * name leads to then: here the "attacker" is the adapter seam, which swaps
 * the name just before the call.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { apis } from "./_apis.ts";
import { faultAdapter, using, withTempDir } from "./_fixtures.ts";
import type { OpName } from "../src/runtime/types.ts";

const NOBODY = 65534;

/** How the attacker replaces the temporary file's name. */
const swaps: Record<string, (victim: string, name: string) => void> = {
  "a symbolic link": (victim, name) => fs.symlinkSync(victim, name),
  "a hard link": (victim, name) => fs.linkSync(victim, name),
};

/**
 * An adapter that, just before the first `op` on the temporary file, moves
 * the file away from its name and puts `swap`'s entry to `victim` there.
 */
function swappingBefore(
  op: OpName,
  victim: string,
  swap: (victim: string, name: string) => void,
) {
  const adapter = faultAdapter([]);
  let swapped = false;
  const before = (name: string) => {
    if (swapped) return;
    swapped = true;
    fs.renameSync(name, `${name}.moved-away`);
    swap(victim, name);
  };
  const realSync = adapter.sync[op] as (...a: unknown[]) => unknown;
  const realAsync = adapter.async[op] as (...a: unknown[]) => Promise<unknown>;
  Object.assign(adapter.sync, {
    [op]: (
      ...args: unknown[]
    ) => (before(args[1] as string), realSync(...args)),
  });
  Object.assign(adapter.async, {
    [op]: (
      ...args: unknown[]
    ) => (before(args[1] as string), realAsync(...args)),
  });
  return adapter;
}

/** The owner, group and bits of `file`, and its content. */
function described(file: string): [number, number, number, string] {
  const stat = fs.lstatSync(file);
  return [
    stat.uid,
    stat.gid,
    stat.mode & 0o7777,
    fs.readFileSync(file, "utf8"),
  ];
}

/**
 * In a fresh directory, a root-only file (the victim) and a `target` made
 * by `prepare`; writes the target while the adapter swaps the temporary
 * file's name for `swap`'s entry to the victim just before `op`, and checks
 * that the victim is as it was.
 */
async function writeWithSwap(
  api: (typeof apis)[number],
  op: OpName,
  swap: (victim: string, name: string) => void,
  prepare: (target: string) => void,
): Promise<void> {
  await withTempDir(async (dir) => {
    const victim = path.join(dir, "victim");
    fs.writeFileSync(victim, "secret");
    fs.chmodSync(victim, 0o600);
    const target = path.join(dir, "target.txt");
    fs.writeFileSync(target, "old");
    prepare(target);
    const before = described(victim);
    await using(
      swappingBefore(op, victim, swap),
      () => api.write(target, "new").catch(() => {}),
    );
    assert.deepEqual(described(victim), before);
  });
}

const isRoot = process.getuid?.() === 0;

for (const api of apis) {
  for (const [what, swap] of Object.entries(swaps)) {
    test(`${api.name} never chmods the file that ${what} put at its temporary file's name leads to`, async () => {
      await writeWithSwap(api, "chmod", swap, (target) => {
        fs.chmodSync(target, 0o666);
      });
    });

    test(
      `${api.name} never chowns the file that ${what} put at its temporary file's name leads to`,
      { skip: isRoot ? false : "needs root, to keep another user's owner" },
      async () => {
        await writeWithSwap(api, "chown", swap, (target) => {
          fs.chownSync(target, NOBODY, NOBODY);
        });
      },
    );
  }
}
