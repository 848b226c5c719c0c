/**
 * A descriptor table full for a moment (`src/runtime/_full_table.ts`): an
 * open of the library that finds it full while a descriptor of its own is
 * on the way out waits for it and tries again, one waiter for each that
 * goes; where none is, `EMFILE` stands at once. The real thing, under a
 * low `ulimit -n`, is `descriptor_limit_test.ts`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  closePassing,
  openPassing,
  withRoom,
} from "../src/runtime/_full_table.ts";
import { errorCode } from "../src/_error_code.ts";
import { systemError, withTempDir } from "./_fixtures.ts";

/** An open that fails with `EMFILE` its first `failures` times, then gives 7; counts its calls. */
function fullFor(failures: number) {
  const counted = { calls: 0 };
  const open = (done: (error: Error | null, fd: number) => void): void => {
    const call = ++counted.calls;
    queueMicrotask(() =>
      call <= failures ? done(systemError("EMFILE", "open"), -1) : done(null, 7)
    );
  };
  return { counted, open };
}

/** `withRoom(open)` as a promise. */
function openWithRoom(
  open: (done: (error: Error | null, fd: number) => void) => void,
): Promise<number> {
  return new Promise((resolve, reject) =>
    withRoom(open, (error, fd) => error ? reject(error) : resolve(fd))
  );
}

/** A file of `dir` opened passing, as the read under a lock opens its file. */
function passingFile(dir: string, name: string): Promise<number> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, "x");
  return new Promise((resolve, reject) =>
    openPassing(
      file,
      fs.constants.O_RDONLY,
      (error, fd) => error ? reject(error) : resolve(fd),
    )
  );
}

function closed(fd: number): Promise<void> {
  return new Promise((resolve, reject) =>
    closePassing(fd, (error) => error ? reject(error) : resolve())
  );
}

/** Whether `promise` has settled after the calls in flight have had their turn. */
async function hasSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  promise.then(() => settled = true, () => settled = true);
  await new Promise((resolve) => setTimeout(resolve, 20));
  return settled;
}

/** Lets what an earlier test left on its way out (a read's close behind its answer) go. */
const quiet = (): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, 50));

test("an open that finds the table full with none of the library's descriptors passing rejects with EMFILE at once", async () => {
  await quiet();
  const { counted, open } = fullFor(Infinity);
  await assert.rejects(openWithRoom(open), { code: "EMFILE" });
  assert.equal(counted.calls, 1);
});

test("an open that finds the table full while a read's file is open waits for its close, then opens", async () => {
  await quiet();
  await withTempDir(async (dir) => {
    const fd = await passingFile(dir, "read");
    const { counted, open } = fullFor(1);
    const opening = openWithRoom(open);
    assert.equal(await hasSettled(opening), false);
    assert.equal(counted.calls, 1);
    await closed(fd);
    assert.equal(await opening, 7);
    assert.equal(counted.calls, 2);
  });
});

test("opens waiting for room: one tries again for each descriptor gone; once none is passing, EMFILE stands", async () => {
  await quiet();
  await withTempDir(async (dir) => {
    const fds = [await passingFile(dir, "a"), await passingFile(dir, "b")];
    const { counted, open } = fullFor(Infinity);
    const waiters = [1, 2, 3].map(() => openWithRoom(open));
    const outcomes = Promise.allSettled(waiters);
    assert.equal(await hasSettled(outcomes), false);
    assert.equal(counted.calls, 3);
    await closed(fds[0]);
    assert.equal(await hasSettled(outcomes), false);
    assert.equal(counted.calls, 4, "one waiter tried again");
    await closed(fds[1]);
    for (const outcome of await outcomes) {
      assert.equal(outcome.status, "rejected");
      assert.equal(errorCode(outcome.reason), "EMFILE");
    }
    // Each tried once more: none was passing any more, and one had gone.
    assert.equal(counted.calls, 7);
  });
});
