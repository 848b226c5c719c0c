/**
 * The real thing, in child processes of the runtime running the tests: a
 * SIGKILL mid-write, SIGINT/SIGTERM and exit with a temporary file in flight.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { checkPayload } from "./_child.ts";
import {
  read,
  root,
  scriptCommand,
  tempsIn,
  withTempDir,
} from "./_fixtures.ts";

const child = path.join(root, "tests", "_child.ts");

interface Running {
  /** Resolves with the first line the child prints. */
  firstLine: Promise<string>;
  /** Resolves with how the child ended. */
  ended: Promise<{ code: number | null; signal: string | null }>;
  kill(signal: NodeJS.Signals): void;
}

function start(args: string[]): Running {
  const [exe, ...rest] = scriptCommand(child, args);
  const proc = spawn(exe, rest, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const firstLine = new Promise<string>((resolve, reject) => {
    proc.stdout.on("data", (chunk) => {
      out += chunk;
      const end = out.indexOf("\n");
      if (end >= 0) resolve(out.slice(0, end));
    });
    proc.on("exit", () => reject(new Error(`child ended early: ${err}`)));
  });
  proc.stderr.on("data", (chunk) => err += chunk);
  const ended = new Promise<{ code: number | null; signal: string | null }>(
    (resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })),
  );
  firstLine.catch(() => {});
  return { firstLine, ended, kill: (signal) => proc.kill(signal) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const api of ["async", "handle", "sync"]) {
  test(`a ${api} writer killed with SIGKILL mid-write leaves the target whole`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "state.txt");
      for (let kill = 0; kill < 4; kill++) {
        const writer = start(["loop", target, api]);
        assert.equal(await writer.firstLine, "ready");
        await sleep(20 + Math.random() * 80);
        writer.kill("SIGKILL");
        assert.equal((await writer.ended).signal, "SIGKILL");
        assert.ok(checkPayload(read(target)), `whole after kill ${kill}`);
      }
    });
  });
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal} removes the temporary file in flight and still ends the process`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      const holder = start(["hold", target]);
      const temps = await holder.firstLine;
      assert.match(temps, /\.atomic-tmp$/, "a temp existed while writing");
      holder.kill(signal);
      const { signal: endedBy } = await holder.ended;
      assert.equal(endedBy, signal);
      assert.deepEqual(tempsIn(dir), []);
      assert.equal(read(target), "old");
    });
  });
}

test("exiting with a temporary file in flight removes it and keeps the exit code", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f.txt");
    const quitter = start(["exit", target]);
    assert.match(await quitter.firstLine, /\.atomic-tmp$/);
    assert.equal((await quitter.ended).code, 3);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});
