/**
 * The real thing, in child processes of the runtime running the tests: a
 * SIGKILL mid-write, SIGINT/SIGTERM and exit with a temporary file in flight.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { checkPayload } from "./_child.ts";
import { read, tempsIn, withTempDir } from "./_fixtures.ts";
import { CHILD_TEST, childCommand, type Running, start } from "./_running.ts";
import { removeStaleTemps } from "../mod.ts";

function startChild(args: string[]): Running {
  return start(childCommand("_child.ts", args));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const api of ["async", "handle", "sync"]) {
  test(
    `a ${api} writer killed with SIGKILL mid-write leaves the target whole`,
    CHILD_TEST,
    async () => {
      await withTempDir(async (dir) => {
        const target = path.join(dir, "state.txt");
        for (let kill = 0; kill < 4; kill++) {
          const writer = startChild(["loop", target, api]);
          assert.equal(await writer.firstLine, "ready");
          await sleep(20 + Math.random() * 80);
          writer.kill("SIGKILL");
          assert.equal((await writer.ended).signal, "SIGKILL");
          assert.ok(checkPayload(read(target)), `whole after kill ${kill}`);
        }
      });
    },
  );
}

for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  test(
    `${signal} ends a writer as it would without the library, and its temp file is swept`,
    CHILD_TEST,
    async () => {
      await withTempDir(async (dir) => {
        const target = path.join(dir, "f.txt");
        fs.writeFileSync(target, "old");
        const holder = startChild(["hold", target]);
        const temps = (await holder.firstLine).split(",");
        assert.match(temps[0], /\.atomic-tmp$/, "a temp existed while writing");
        holder.kill(signal);
        assert.deepEqual(await holder.ended, { code: null, signal });
        assert.equal(read(target), "old");
        // No JavaScript ran: the temp file is left, and its writer is provably gone.
        assert.deepEqual(tempsIn(dir), temps);
        const swept = await removeStaleTemps(dir, { olderThan: 0 });
        assert.deepEqual(swept, temps.map((name) => path.join(dir, name)));
      });
    },
  );
}

test(
  "exiting with a temporary file in flight removes it and keeps the exit code",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      const quitter = startChild(["exit", target]);
      assert.match(await quitter.firstLine, /\.atomic-tmp$/);
      assert.equal((await quitter.ended).code, 3);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  },
);
