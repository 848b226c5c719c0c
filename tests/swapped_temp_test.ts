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
import { faultAdapter, read, using, withTempDir } from "./_fixtures.ts";
import type { OpName } from "../src/runtime/types.ts";
import { writeFileAtomic } from "../mod.ts";
import { currentContext } from "../src/_context.ts";

const NOBODY = 65534;

/** How the attacker replaces the temporary file's name. */
const swaps: Record<string, (victim: string, name: string) => void> = {
  "a symbolic link": (victim, name) => fs.symlinkSync(victim, name),
  "a hard link": (victim, name) => fs.linkSync(victim, name),
};

/**
 * An adapter that, just before the first `op` on the temporary file, moves
 * the file away from its name and puts `swap`'s entry to `victim` there;
 * the name is the call's argument `at`.
 */
function swappingBefore(
  op: OpName,
  victim: string,
  swap: (victim: string, name: string) => void,
  at = 1,
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
    ) => (before(args[at] as string), realSync(...args)),
  });
  Object.assign(adapter.async, {
    [op]: (
      ...args: unknown[]
    ) => (before(args[at] as string), realAsync(...args)),
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

/** In `dir`, a root-only file holding "secret" (the victim), and a target holding "old". */
function victimAndTarget(dir: string): { victim: string; target: string } {
  const victim = path.join(dir, "victim");
  fs.writeFileSync(victim, "secret");
  fs.chmodSync(victim, 0o600);
  const target = path.join(dir, "target.txt");
  fs.writeFileSync(target, "old");
  return { victim, target };
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
    const { victim, target } = victimAndTarget(dir);
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

/** `text`, then a pause before the end: the writes after it all come to wait. */
async function* slowly(text: string): AsyncGenerator<string> {
  yield text;
  await new Promise((resolve) => setTimeout(resolve, 200));
}

/** How the attacker puts another file at the name of a temporary file closed while its write waits. */
const puts: Record<string, (victim: string, name: string) => void> = {
  "a hard link of another file": (victim, name) => fs.linkSync(victim, name),
  "another file itself": (victim, name) => fs.renameSync(victim, name),
};

// Past the 8 writes of a thread that may wait for their turn with their
// files open, a write closes its file while it waits, and opens it again by
// its name to match what the earlier writes left (here: the first write's
// bits, and as root another user's owner). Someone who may write the
// directory can move the file away and put another at its name meanwhile.
// The write must notice (the file opened is not the one it made), and
// neither give that file the target's owner and bits, nor rename it over
// the target, nor remove it: it fails, and later writes go on. Its own file,
// moved away under a name the write does not know, is left where it is
// (the README: a temporary file someone renamed is never removed under its
// new name).
for (const [what, put] of Object.entries(puts)) {
  test(`writeFileAtomic() past the writes that wait with their files open rejects with EAGAIN, and never chmods, chowns, renames nor removes ${what} put at its closed temporary file's name`, async () => {
    await withTempDir(async (dir) => {
      const { victim, target } = victimAndTarget(dir);
      if (isRoot) fs.chownSync(target, NOBODY, NOBODY);
      fs.chmodSync(target, 0o644);
      const before = described(victim);
      const inode = fs.statSync(victim).ino;
      let name = "";
      const adapter = swappingBefore("reopen", victim, (file, at) => {
        name = path.join(dir, path.basename(at));
        put(file, at);
      }, 0);
      const [outcomes, inFlight] = await using(adapter, async () => {
        // The first waits for none, 8 wait with their files open, 2 with
        // theirs closed: the first of those to open its own file again
        // meets the swap.
        const writes = [
          writeFileAtomic(target, slowly("w0"), { mode: 0o640 }),
        ];
        for (let i = 1; i <= 10; i++) {
          writes.push(writeFileAtomic(target, `w${i}`));
        }
        const settled = await Promise.allSettled(writes);
        return [settled, [...currentContext().inFlight]] as const;
      });
      assert.notEqual(name, "", "no write opened its file again");
      // The other file, under its own name (a hard link's) and at the
      // temporary file's name, is as it was.
      if (fs.existsSync(victim)) assert.deepEqual(described(victim), before);
      assert.ok(fs.existsSync(name), "the file put at the name was moved");
      assert.equal(fs.statSync(name).ino, inode);
      assert.deepEqual(described(name), before);
      assert.ok(!inFlight.includes(name), "it would be removed at exit");
      // One write meets the swap (which one depends on the order in which
      // the writes come to wait); the others succeed.
      const codes = outcomes.map((o) =>
        o.status === "fulfilled" ? "ok" : (o.reason as { code: string }).code
      );
      assert.deepEqual(codes.filter((code) => code !== "ok"), ["EAGAIN"]);
      // The target has the last successful write's content, owner and bits.
      assert.equal(read(target), `w${codes.lastIndexOf("ok")}`);
      const [uid, gid, mode] = described(target);
      assert.deepEqual([uid, gid, mode], [
        isRoot ? NOBODY : before[0],
        isRoot ? NOBODY : before[1],
        0o640,
      ]);
      // The write's own file, moved away, is left there.
      assert.ok(fs.existsSync(`${name}.moved-away`));
    });
  });
}
