/**
 * Worker threads (Node `worker_threads`, Deno and Bun web workers) with a
 * write in flight, in a real child process: whatever ends the worker, its
 * temp file is removed or provably sweepable, even while the process lives.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { removeStaleTemps } from "../mod.ts";
import { read, tempsIn, withTempDir } from "./_fixtures.ts";
import { CHILD_TEST, childCommand, type Ended, start } from "./_running.ts";

interface Ready {
  temps: string[];
}

/**
 * Runs `_lifecycle_host.ts worker HOW` (a worker starts a write) and ends
 * it with `end`; returns the temps the worker made and how the child ended.
 */
async function workerWrite(
  dir: string,
  how: string,
  end: (child: ReturnType<typeof start>) => Promise<Ended>,
): Promise<{ temps: string[]; ended: Ended }> {
  const target = path.join(dir, "f.txt");
  fs.writeFileSync(target, "old");
  const child = start(
    childCommand("_lifecycle_host.ts", ["worker", target, how]),
  );
  const { temps } = await child.line(0) as Ready;
  assert.equal(temps.length, 1, "the worker's write has a temp file");
  const ended = await end(child);
  assert.equal(read(target), "old");
  return { temps, ended };
}

/** Asserts that nothing but swept temps is left: a sweep removes every temp in `dir`. */
async function assertAllSwept(dir: string) {
  const left = tempsIn(dir).sort();
  const swept = await removeStaleTemps(dir, { olderThan: 0 });
  assert.deepEqual(swept, left.map((name) => path.join(dir, name)));
  assert.deepEqual(tempsIn(dir), []);
}

test(
  "a worker's temp file is sweepable after the main thread calls process.exit()",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      const { ended } = await workerWrite(dir, "exit", (child) => child.ended);
      assert.deepEqual(ended, { code: 5, signal: null });
      await assertAllSwept(dir);
    });
  },
);

test(
  "a worker's temp file is sweepable after the main thread throws",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      const { ended } = await workerWrite(dir, "throw", (child) => child.ended);
      assert.deepEqual(ended, { code: 1, signal: null });
      await assertAllSwept(dir);
    });
  },
);

test(
  "a worker's temp file is sweepable after the process gets SIGTERM",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      const { ended } = await workerWrite(dir, "signal", (child) => {
        child.kill("SIGTERM");
        return child.ended;
      });
      assert.deepEqual(ended, { code: null, signal: "SIGTERM" });
      await assertAllSwept(dir);
    });
  },
);

test(
  "a terminated worker's temp file is sweepable while its process still runs",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      let swept: string[] = [];
      const { temps, ended } = await workerWrite(
        dir,
        "terminate",
        async (child) => {
          assert.deepEqual(await child.line(1), { terminated: true });
          // Deno's and Bun's terminate() returns before the thread is gone.
          for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
            swept = await removeStaleTemps(dir, { olderThan: 0 });
            if (swept.length > 0) break;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          child.kill("SIGKILL");
          return await child.ended;
        },
      );
      assert.equal(ended.signal, "SIGKILL");
      assert.deepEqual(swept, temps.map((name) => path.join(dir, name)));
      assert.deepEqual(tempsIn(dir), []);
    });
  },
);

test(
  "a node:worker_threads worker that reaches the end of its program leaves neither its makeTempFile() file nor its lock",
  CHILD_TEST,
  async () => {
    await withTempDir(async (dir) => {
      const { Worker } = await import("node:worker_threads");
      const worker = new Worker(
        new URL("./_ending_worker.ts", import.meta.url),
        { workerData: dir },
      );
      const messages: unknown[] = [];
      worker.on("message", (message) => messages.push(message));
      await new Promise((resolve, reject) => {
        worker.on("exit", resolve);
        worker.on("error", reject);
      });
      assert.deepEqual(messages, ["ready"]);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  },
);
