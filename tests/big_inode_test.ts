/**
 * Files whose inode numbers are 2^53 or more, which a JavaScript number
 * rounds, so that many files would share one: the lower layer of an
 * overlay mounted with `xino=on` over layers on two file systems (a loop
 * ext4 below, a loop xfs above), whose files get 2^63 + their own number.
 * The checks that a path still leads to the directory or file seen before
 * tell such files apart as any others. Also the ids themselves, from fake
 * numbers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import {
  updateFileAtomic,
  updateFileAtomicSync,
  writeFileAtomic,
} from "../mod.ts";
import { exactId, idOfBigints, idOfNumbers } from "../src/runtime/_file_id.ts";
import { read, root, withTempDir } from "./_fixtures.ts";
import { type Mount, mount, mountImage } from "./_mounts.ts";
import { Skip, type Skippable, skipTest } from "./_skip.ts";
import { hasCommand, injecting } from "./_commands.ts";

const TWO_TO_63 = 2n ** 63n;

/**
 * Runs `fn` on an overlay at `dir/merged`, mounted with `xino=on` (and
 * `redirect_dir=on`, so that its lower directories can be renamed) over a
 * loop ext4 where `prepare` made files first and a loop xfs; skips `t`
 * where that cannot be made, or where its lower files' inode numbers stay
 * small (a kernel without `xino`). Unmounts all three and detaches their
 * loop devices after.
 */
async function withXinoOverlay(
  t: Skippable,
  dir: string,
  prepare: (lower: string) => void,
  fn: (merged: string) => Promise<void> | void,
): Promise<void> {
  const mounts: Mount[] = [];
  try {
    const lower = mountImage("ext4", `${dir}/lower.img`, `${dir}/lower`);
    mounts.unshift(lower);
    prepare(lower.dir);
    const upper = mountImage("xfs", `${dir}/upper.img`, `${dir}/upper`);
    mounts.unshift(upper);
    for (const name of ["u", "w"]) fs.mkdirSync(path.join(upper.dir, name));
    const merged = mount("overlay", path.join(dir, "merged"), [
      "-t",
      "overlay",
      "-o",
      `lowerdir=${lower.dir},upperdir=${upper.dir}/u,workdir=${upper.dir}/w,xino=on,redirect_dir=on`,
      "atomic-test-xino",
    ]);
    mounts.unshift(merged);
    const root = fs.statSync(merged.dir, { bigint: true });
    const inLower = fs.readdirSync(lower.dir)[0];
    const ino = fs.statSync(path.join(merged.dir, inLower), { bigint: true })
      .ino;
    if (BigInt.asUintN(64, ino) < TWO_TO_63) {
      return void skipTest(
        t,
        `xino=on gave lower files small inode numbers (${ino}; root ${root.ino})`,
      );
    }
    await fn(merged.dir);
  } catch (error) {
    if (error instanceof Skip) return void skipTest(t, error.message);
    throw error;
  } finally {
    for (const made of mounts) made.close();
  }
}

/**
 * Makes the lower layer's directories `d/<name>` for each of `names`, each
 * with a file `f` saying its name. Under one parent, ext4 gives them
 * neighbouring inode numbers (its top-level directories are spread over
 * the disk), which a number rounds to one in the overlay.
 */
function directories(...names: string[]): (lower: string) => void {
  return (lower) => {
    for (const name of names) {
      fs.mkdirSync(path.join(lower, "d", name), { recursive: true });
      fs.writeFileSync(path.join(lower, "d", name, "f"), name);
    }
  };
}

/**
 * Whether the directories `names` under `dir` have inode numbers that a
 * number rounds to one (what this suite is about); skips `t` if not.
 */
function collide(t: Skippable, dir: string, names: string[]): boolean {
  const inodes = names.map((name) =>
    fs.statSync(path.join(dir, name), { bigint: true }).ino
  );
  const numbers = new Set(inodes.map((ino) => Number(BigInt.asUintN(64, ino))));
  if (numbers.size === 1) return true;
  skipTest(t, `their inode numbers ${inodes.join(", ")} do not round to one`);
  return false;
}

const updates = [
  { name: "updateFileAtomic()", update: updateFileAtomic },
  { name: "updateFileAtomicSync()", update: updateFileAtomicSync },
];

for (const { name, update } of updates) {
  test(`${name} fails with EAGAIN when fn points the link on the path to another lower-layer directory of an xino overlay`, async (t) => {
    await withTempDir(async (dir) => {
      await withXinoOverlay(t, dir, directories("K", "L1"), async (root) => {
        const merged = path.join(root, "d");
        if (!collide(t, merged, ["K", "L1"])) return;
        const link = path.join(merged, "ln");
        fs.symlinkSync("K", link);
        await assert.rejects(
          async () =>
            await update(path.join(link, "f"), () => {
              fs.unlinkSync(link);
              fs.symlinkSync("L1", link);
              return "new";
            }),
          (error: NodeJS.ErrnoException) => error.code === "EAGAIN",
        );
        assert.equal(read(path.join(merged, "K", "f")), "K");
        assert.equal(read(path.join(merged, "L1", "f")), "L1");
      });
    });
  });
}

test(
  "writeFileAtomic() writes a relative path into the current lower-layer directory of an xino overlay after it was renamed and another lower-layer directory took its path",
  { skip: process.platform === "win32" && "Windows has no overlays" },
  async (t) => {
    await withTempDir(async (dir) => {
      await withXinoOverlay(t, dir, directories("L1", "L2"), async (root) => {
        const merged = path.join(root, "d");
        if (!collide(t, merged, ["L1", "L2"])) return;
        const [l1, l2, old] = ["L1", "L2", "L1.old"].map((name) =>
          path.join(merged, name)
        );
        const cwd = process.cwd();
        process.chdir(l1);
        try {
          assert.equal(process.cwd(), l1); // the path Node and Bun keep
          fs.renameSync(l1, old);
          fs.renameSync(l2, l1);
          await writeFileAtomic("f", "new");
        } finally {
          process.chdir(cwd);
        }
        assert.equal(read(path.join(old, "f")), "new");
        assert.equal(read(path.join(l1, "f")), "L2");
      });
    });
  },
);

const deno = path.join(root, "node_modules", ".bin", "deno");
const noDeno = fs.existsSync(deno) ? false : "Deno is not installed here";
const childScript = path.join(root, "tests", "_big_inode_child.ts");

/**
 * What Deno without `--allow-ffi`, whose inode numbers above 2^53 come
 * rounded, makes of each case of `_big_inode_child.ts`: those that need
 * to tell such directories apart fail, and nothing is written where it
 * should not be.
 */
const withoutFfi: [string, string, RegExp][] = [
  [
    "writeFileAtomic() writes a file in a lower-layer directory",
    "write",
    /^ok$/,
  ],
  [
    "updateFileAtomic() fails (EAGAIN or ELOCKLOST) when fn points the link on the path to another lower-layer directory",
    "swap",
    /^(EAGAIN|ELOCKLOST)$/,
  ],
  [
    "writeFileAtomic() fails with EOVERFLOW for a relative path in a lower-layer current directory",
    "relative",
    /^EOVERFLOW$/,
  ],
];

/**
 * Deno's ways of running without exact numbers: without `--allow-ffi`, and
 * with it where a seccomp policy refuses `statx` (strace makes every
 * `statx` fail with `EPERM`, as Docker's default profile did before 2019;
 * Deno's own `stat` falls back to `fstatat` there).
 */
const inexact = [
  {
    how: "without --allow-ffi",
    command: [deno, "run", "--allow-read", "--allow-write", "--allow-env"],
    skip: noDeno,
  },
  {
    how: "with --allow-ffi where statx fails with EPERM",
    command: [
      "strace",
      ...injecting("statx", "error=EPERM"),
      deno,
      "run",
      "-A",
    ],
    skip: noDeno || (hasCommand("strace") ? false : "strace is not installed"),
  },
];

for (const { how, command: [command, ...args], skip } of inexact) {
  for (const [name, which, outcome] of withoutFfi) {
    test(`Deno ${how} on an xino overlay: ${name}`, { skip }, async (t) => {
      await withTempDir(async (dir) => {
        await withXinoOverlay(t, dir, directories("K", "L1"), (root) => {
          const merged = path.join(root, "d");
          if (!collide(t, merged, ["K", "L1"])) return;
          const run = spawnSync(
            command,
            [...args, childScript, which, merged],
            {
              encoding: "utf8",
              env: { ...process.env, NO_COLOR: "1" },
            },
          );
          assert.equal(run.status, 0, run.stderr);
          assert.match(run.stdout.trim(), outcome);
          const changed = which === "write" ? "new" : "K";
          assert.equal(read(path.join(merged, "K", "f")), changed);
          assert.equal(read(path.join(merged, "L1", "f")), "L1");
        });
      });
    });
  }
}

test("exactId() tells apart inode numbers above 2^53 that a number rounds to one", () => {
  const [a, b] = [TWO_TO_63 + 5n, TWO_TO_63 + 17n];
  assert.equal(Number(a), Number(b));
  assert.notEqual(exactId(46n, a), exactId(46n, b));
  assert.equal(exactId(46n, a), "46:9223372036854775813");
  // Node and Bun give them signed.
  assert.equal(exactId(46n, BigInt.asIntN(64, a)), exactId(46n, a));
});

test("idOfNumbers() gives rounded numbers an id equal to none, not even its own next one", () => {
  const rounded = Number(TWO_TO_63 + 5n);
  assert.equal(idOfNumbers(46, 1234), "46:1234");
  assert.notEqual(idOfNumbers(46, rounded), idOfNumbers(46, rounded));
});

test("idOfBigints() trusts only bigints that no number could have given", () => {
  assert.equal(
    idOfBigints(46n, TWO_TO_63 + 5n),
    exactId(46n, TWO_TO_63 + 5n),
  );
  assert.notEqual(idOfBigints(46n, TWO_TO_63), idOfBigints(46n, TWO_TO_63));
});
