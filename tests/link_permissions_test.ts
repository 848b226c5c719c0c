/**
 * A symbolic link the caller names is followed only where the runtime's
 * permissions let the process write it by that name. Deno's flags and
 * Node's permission model check the name a plain write is given, and the
 * kernel follows the link for them, knowing nothing of those permissions;
 * the library follows links itself, so it checks the link's own name as
 * they would, or a sandbox that forbids writing it would be bypassed. The
 * test spawns Deno, Node 24 and Node 22 whatever runtime runs it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { read, root, withTempDir } from "./_fixtures.ts";

const deno = path.join(root, "node_modules", ".bin", "deno");
const noDeno = fs.existsSync(deno) ? false : "Deno is not installed here";
const nodes: [string, string][] = [
  ["Node 24", path.join(root, "node_modules", "node", "bin", "node")],
  ["Node 22", path.join(root, "node_modules", "node22", "bin", "node")],
];
const child = path.join(root, "tests", "_child.ts");
const lockChild = path.join(root, "tests", "_lock_child.ts");

/**
 * In `dir`: `d/real` holding "old" and its link `d/conf`; `o/file` holding
 * "old" and the link `d/out` to it; the link `d/new` to `o/new`, which does
 * not exist.
 */
function tree(dir: string): { d: string; o: string } {
  const [d, o] = [path.join(dir, "d"), path.join(dir, "o")];
  fs.mkdirSync(d);
  fs.mkdirSync(o);
  fs.writeFileSync(path.join(d, "real"), "old");
  fs.symlinkSync("real", path.join(d, "conf"));
  fs.writeFileSync(path.join(o, "file"), "old");
  fs.symlinkSync("../o/file", path.join(d, "out"));
  fs.symlinkSync("../o/new", path.join(d, "new"));
  return { d, o };
}

/** `tests/_child.ts` writing `target` with the `api` API on Deno under the permission `flags`, without prompts. */
function denoWrites(
  flags: string[],
  target: string,
  api: string,
): { stdout: string; stderr: string } {
  return spawnSync(deno, [
    "run",
    "--no-prompt",
    ...flags,
    child,
    "write",
    target,
    api,
  ], { encoding: "utf8" });
}

test(
  "Deno denied writing a link's name: a write through it fails with EACCES naming the flag, the file it leads to unchanged",
  { skip: noDeno },
  async () => {
    await withTempDir((dir) => {
      const { d } = tree(dir);
      const run = denoWrites(
        [
          `--allow-read=${dir}`,
          `--allow-write=${d}`,
          `--deny-write=${path.join(d, "conf")}`,
        ],
        path.join(d, "conf"),
        "async",
      );
      assert.equal(run.stdout, "EACCES\n", run.stderr);
      assert.match(run.stderr, /follow symbolic link .*--allow-write/);
      assert.equal(read(path.join(d, "real")), "old");
      assert.deepEqual(fs.readdirSync(d).sort(), [
        "conf",
        "new",
        "out",
        "real",
      ]);
    });
  },
);

test(
  "Deno allowed to write only where a link leads: a write through the link fails with EACCES, that file unchanged",
  { skip: noDeno },
  async () => {
    await withTempDir((dir) => {
      const { d, o } = tree(dir);
      const run = denoWrites(
        [`--allow-read=${dir}`, `--allow-write=${o}`],
        path.join(d, "out"),
        "sync",
      );
      assert.equal(run.stdout, "EACCES\n", run.stderr);
      assert.equal(read(path.join(o, "file")), "old");
      assert.deepEqual(fs.readdirSync(o), ["file"]);
    });
  },
);

for (const [name, node] of nodes) {
  const skip = fs.existsSync(node) ? false : `${name} is not installed here`;
  test(
    `${name} with --permission allowing only where a link leads: lockFile() through the link fails with EACCES, making nothing there`,
    { skip },
    async () => {
      await withTempDir((dir) => {
        const { d, o } = tree(dir);
        const run = spawnSync(node, [
          "--permission",
          `--allow-fs-read=${root}`,
          `--allow-fs-read=${dir}`,
          `--allow-fs-write=${o}`,
          lockChild,
          "try",
          path.join(d, "new"),
          "async",
        ], { encoding: "utf8" });
        assert.equal(run.stdout, "EACCES\n", run.stderr);
        assert.deepEqual(fs.readdirSync(o), ["file"]);
      });
    },
  );
}
