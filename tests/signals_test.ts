/**
 * The library in other people's programs: real child processes receive real
 * signals. The rule (README "Signals"): a signal does after the first write
 * what it did before; a temp file is removed on every way out that runs
 * JavaScript, or else `removeStaleTemps` can prove its writer gone.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { removeStaleTemps } from "../mod.ts";
import { read, tempsIn, withTempDir } from "./_fixtures.ts";
import { CHILD_TEST, childCommand, type Ended, start } from "./_running.ts";

const NEW = "x".repeat(100_000);

interface Ready {
  temps: string[];
}

/** Starts `_lifecycle_host.ts MODE TARGET ARG`, optionally under `sh -c` with SIGHUP ignored. */
function host(mode: string, target: string, arg = "", nohup = false) {
  const command = childCommand("_lifecycle_host.ts", [mode, target, arg]);
  // `trap '' HUP` is what nohup does: the program starts with SIGHUP ignored.
  return start(
    nohup ? ["sh", "-c", `trap '' HUP; exec "$@"`, "sh", ...command] : command,
  );
}

/** Asserts that the temp files left in `dir` are exactly `temps`, and that a sweep removes them. */
async function assertSweptExactly(dir: string, temps: string[]) {
  assert.deepEqual(tempsIn(dir).sort(), temps);
  const swept = await removeStaleTemps(dir, { olderThan: 0 });
  assert.deepEqual(swept, temps.map((name) => path.join(dir, name)));
}

test(
  "SIGTERM ends a program that uses signal-exit, with a write in flight",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      const child = host("hold", target, "signal-exit");
      const { temps } = await child.line(0) as Ready;
      assert.equal(temps.length, 1);
      child.kill("SIGTERM");
      assert.deepEqual(await child.line(1), { signalExitSaw: "SIGTERM" });
      assert.deepEqual(await child.ended, { code: null, signal: "SIGTERM" });
      assert.equal(read(target), "old");
      await assertSweptExactly(dir, temps);
    });
  },
);

test(
  "a graceful shutdown added with process.once commits the write in flight and exits 0",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      const child = host("hold", target, "once");
      assert.equal((await child.line(0) as Ready).temps.length, 1);
      child.kill("SIGTERM");
      assert.deepEqual(await child.ended, { code: 0, signal: null });
      assert.equal(read(target), NEW);
      assert.deepEqual(tempsIn(dir), []);
    });
  },
);

/**
 * How a program that starts with SIGHUP ignored ends when it gets SIGHUP,
 * then a second later SIGTERM: by SIGTERM if SIGHUP stayed ignored. (On a
 * slow machine a second may not be enough for a program that would die of
 * SIGHUP to do so; that can only hide a failure, never cause one.)
 */
async function endedUnderNohup(dir: string, arg: string): Promise<Ended> {
  const child = host("hold", path.join(dir, "f.txt"), arg, true);
  await child.line(0);
  child.kill("SIGHUP");
  await new Promise((resolve) => setTimeout(resolve, 1000));
  try {
    child.kill("SIGTERM");
  } catch { /* already ended by SIGHUP */ }
  return await child.ended;
}

test(
  "a program started with SIGHUP ignored reacts to SIGHUP as it would without the library",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      // The same program without a write shows what the runtime itself does.
      const control = await endedUnderNohup(dir, "idle");
      const writer = await endedUnderNohup(dir, "none");
      assert.deepEqual(writer, control);
    });
  },
);

test(
  "an uncaught exception with a write in flight removes the temp file",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      const child = host("throw", target);
      assert.equal((await child.line(0) as Ready).temps.length, 1);
      assert.deepEqual(await child.ended, { code: 1, signal: null });
      assert.equal(read(target), "old");
      assert.deepEqual(tempsIn(dir), []);
    });
  },
);

test(
  "an unhandled rejection with a write in flight removes the temp file",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      const child = host("reject", target);
      assert.equal((await child.line(0) as Ready).temps.length, 1);
      const ended = await child.ended;
      assert.equal(ended.signal, null);
      assert.notEqual(ended.code, 0);
      assert.equal(read(target), "old");
      assert.deepEqual(tempsIn(dir), []);
    });
  },
);

for (
  const [mode, survived, handled] of [
    ["survive", "an unhandled rejection", { unhandled: true }],
    ["survive-throw", "an uncaught exception", { uncaught: true }],
  ] as const
) {
  const handler = mode === "survive"
    ? 'a process.on("unhandledRejection") handler'
    : 'a process.on("uncaughtException") handler added during the write';
  test(
    `${survived} that ${handler} survives leaves the write in flight to commit`,
    CHILD_TEST,
    async () => {
      await withTempDir(async (dir) => {
        const target = path.join(dir, "f.txt");
        fs.writeFileSync(target, "old");
        const child = host(mode, target);
        assert.equal((await child.line(0) as Ready).temps.length, 1);
        assert.deepEqual(await child.line(1), handled);
        assert.deepEqual(await child.line(2), { committed: true });
        assert.deepEqual(await child.ended, { code: 0, signal: null });
        assert.notEqual(read(target), "old");
        assert.deepEqual(tempsIn(dir), []);
      });
    },
  );
}

test(
  "makeTempFileSync()'s file is removed when the process exits",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      const child = host("maketemp", path.join(dir, "f.txt"));
      const made = (await child.line(0) as { path: string }).path;
      assert.equal(path.dirname(made), dir);
      assert.deepEqual(await child.ended, { code: 0, signal: null });
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  },
);

test(
  "the library adds no listener to sweep, and only exit listeners while a temp file or lock exists",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      const child = host("listeners", path.join(dir, "f.txt"));
      assert.deepEqual(await child.line(0), { sweep: [] });
      const { makeTemp } = await child.line(1) as { makeTemp: string[] };
      const { makeTempRemoved } = await child.line(2) as Record<
        string,
        string[]
      >;
      const { write } = await child.line(3) as { write: string[] };
      // Node and Bun: process "exit"; Deno: "unload" and the uncaught-error events.
      const exitEvents = ["exit", "unload", "error", "unhandledrejection"];
      assert.ok(
        makeTemp.length > 0,
        "makeTempFile's file is part of exit cleanup",
      );
      for (const added of makeTemp) {
        assert.ok(exitEvents.includes(added.slice(1)), added);
      }
      assert.deepEqual(makeTempRemoved, makeTemp.map((e) => `-${e.slice(1)}`));
      assert.deepEqual(write, [...makeTemp, ...makeTempRemoved]);
      // Lock tries that gave up before trying remove what they added.
      const { failedLocks } = await child.line(4) as { failedLocks: string[] };
      const [added, removed] = ["+", "-"].map((sign) =>
        failedLocks.filter((e) => e.startsWith(sign)).map((e) => e.slice(1))
          .sort()
      );
      assert.deepEqual(removed, added, failedLocks.join(" "));
      assert.deepEqual(await child.ended, { code: 0, signal: null });
    });
  },
);
