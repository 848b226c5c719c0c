/** groupCommit(): directory fsyncs shared, never skipped. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { groupCommit } from "../src/_group_commit.ts";

/** A flush whose runs are started and finished by hand. */
function manualFlush() {
  const runs: {
    dir: string;
    held: number | undefined;
    done: PromiseWithResolvers<void>;
  }[] = [];
  const flush = (dir: string, held?: number) => {
    const done = Promise.withResolvers<void>();
    runs.push({ dir, held, done });
    return done.promise;
  };
  return { runs, flush };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

test("groupCommit() starts a flush at once when none is running", async () => {
  const { runs, flush } = manualFlush();
  const sync = groupCommit(flush);
  const first = sync("/d");
  assert.equal(runs.length, 1);
  runs[0].done.resolve();
  await first;
});

test("groupCommit() makes callers that arrive during a flush share the next one", async () => {
  const { runs, flush } = manualFlush();
  const sync = groupCommit(flush);
  let settled = 0;
  const first = sync("/d").then(() => settled++);
  const later = [sync("/d"), sync("/d"), sync("/d")].map((p) =>
    p.then(() => settled++)
  );
  assert.equal(
    runs.length,
    1,
    "the later callers do not join the running flush",
  );
  runs[0].done.resolve();
  await first;
  await tick();
  assert.equal(
    settled,
    1,
    "the later callers wait for a flush that starts after them",
  );
  assert.equal(runs.length, 2, "one flush serves all three");
  runs[1].done.resolve();
  await Promise.all(later);
  assert.equal(settled, 4);
});

test("groupCommit() keeps apart two directories one path led to in turn, each fsynced through its own descriptor", async () => {
  const { runs, flush } = manualFlush();
  const sync = groupCommit<number>(flush);
  const first = sync("/d", 21); // the directory /d was
  const second = sync("/d", 21); // waits for the next flush of that one
  // /d renamed away, a new /d made, opened, and a file renamed into it.
  const third = sync("/d", 22);
  assert.deepEqual(runs.map((r) => r.held), [21, 22]);
  runs[0].done.resolve();
  runs[1].done.resolve();
  await Promise.all([first, third]);
  await tick();
  assert.deepEqual(runs.map((r) => r.held), [21, 22, 21]);
  runs[2].done.resolve();
  await second;
});

test("groupCommit() keeps directories apart", () => {
  const { runs, flush } = manualFlush();
  const sync = groupCommit(flush);
  void sync("/a");
  void sync("/b");
  assert.deepEqual(runs.map((r) => r.dir), ["/a", "/b"]);
  for (const run of runs) run.done.resolve();
});

test("groupCommit() rejects every caller sharing a flush that fails", async () => {
  const { runs, flush } = manualFlush();
  const sync = groupCommit(flush);
  const first = sync("/d");
  const second = sync("/d");
  const third = sync("/d");
  runs[0].done.resolve();
  await first;
  await tick();
  const eio = Object.assign(new Error("EIO"), { code: "EIO" });
  runs[1].done.reject(eio);
  await assert.rejects(second, (e) => e === eio);
  await assert.rejects(third, (e) => e === eio);
});

test("groupCommit() starts afresh after every flush has settled", async () => {
  const { runs, flush } = manualFlush();
  const sync = groupCommit(flush);
  const first = sync("/d");
  runs[0].done.resolve();
  await first;
  await tick();
  const again = sync("/d");
  assert.equal(runs.length, 2);
  runs[1].done.resolve();
  await again;
});
