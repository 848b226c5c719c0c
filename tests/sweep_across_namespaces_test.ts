/**
 * removeStaleTemps() where a process id alone would lie: writers and
 * sweepers in other PID namespaces (containers sharing a directory, made
 * with `unshare --pid --fork --mount-proc`), and Deno without the
 * permission to read /proc. An answer the sweeper cannot prove never counts
 * as "gone".
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { removeStaleTemps } from "../mod.ts";
import { backdate, root, tempsIn, withTempDir } from "./_fixtures.ts";
import { CHILD_TEST, childCommand, start } from "./_running.ts";
import { cannotUnshare, inContainer } from "./_namespaces.ts";
import { skipTest } from "./_skip.ts";

const DAY = 24 * 60 * 60 * 1000;

/** Starts a writer that holds a write to `target` open; resolves with its temp file names. */
async function holdingWriter(command: string[]) {
  const child = start(command);
  const { temps } = await child.line(0) as { temps: string[] };
  assert.equal(temps.length, 1, "the writer has a temp file");
  return { child, temps };
}

/** What a sweep with `olderThan: 0`, run by `command`'s program, removed from `dir`. */
async function sweepBy(command: (args: string[]) => string[], dir: string) {
  const child = start(command(["sweep", dir]));
  const { removed } = await child.line(0) as { removed: string[] };
  assert.deepEqual(await child.ended, { code: 0, signal: null });
  return removed;
}

const host = (args: string[]) => childCommand("_lifecycle_host.ts", args);

test(
  "removeStaleTemps() in a container keeps a live writer's temp file from outside it",
  CHILD_TEST,
  async (t) => {
    const reason = cannotUnshare();
    if (reason !== null) return skipTest(t, reason);
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      const { child, temps } = await holdingWriter(
        host(["hold", target, "none"]),
      );
      try {
        // The writer's pid means nothing in the sweeper's namespace.
        assert.deepEqual(await sweepBy((a) => inContainer(host(a)), dir), []);
        assert.deepEqual(tempsIn(dir), temps);
      } finally {
        child.kill("SIGKILL");
        await child.ended;
      }
    });
  },
);

test(
  "removeStaleTemps() sweeps, by age, the temp file of a container's PID 1 that was killed",
  CHILD_TEST,
  async (t) => {
    const reason = cannotUnshare();
    if (reason !== null) return skipTest(t, reason);
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      const { child, temps } = await holdingWriter(
        inContainer(host(["hold", target, "none"])),
      );
      assert.match(temps[0], /\.f\.txt\.1-/, "the writer was PID 1");
      child.kill("SIGKILL");
      await child.ended;
      // Another namespace: its writer cannot be judged, so a fresh file stays…
      assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
      // …and goes once older than olderThanIfUnknown, although pid 1 is alive here.
      const file = path.join(dir, temps[0]);
      backdate(file, 2 * DAY);
      assert.deepEqual(await removeStaleTemps(dir), [file]);
    });
  },
);

/** A Deno command with only the permissions to read and write files. */
function denoReadWrite(args: string[]): string[] {
  return [
    path.join(root, "node_modules", ".bin", "deno"),
    "run",
    "--allow-read",
    "--allow-write",
    path.join(root, "tests", "_lifecycle_host.ts"),
    ...args,
  ];
}

test(
  "removeStaleTemps() on Deno without --allow-all keeps a live writer's temp file",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      const { child, temps } = await holdingWriter(
        denoReadWrite(["hold", target, "none"]),
      );
      try {
        // Without /proc the writer names only its pid, and the sweeper cannot judge any.
        assert.match(temps[0], /^\.f\.txt\.\d+-[0-9a-f]{12}\.atomic-tmp$/);
        assert.deepEqual(await sweepBy(denoReadWrite, dir), []);
        assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
        assert.deepEqual(tempsIn(dir), temps);
      } finally {
        child.kill("SIGKILL");
        await child.ended;
      }
    });
  },
);
