/**
 * removeStaleTemps() and the lock's reclaim under faults of single calls:
 * an `unlink` a signal interrupted (`EINTR`), a reclaim mutex its reclaimer
 * left behind holding the lock it moved there, a real I/O error on a dead
 * holder's lock. Faults are injected at the adapter seam
 * (`faultAdapter`), so every runtime sees the same ones.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  lockFile,
  lockFileSync,
  removeStaleTemps,
  removeStaleTempsSync,
} from "../mod.ts";
import { tempName } from "../src/_temp_name.ts";
import { lockName, reclaimName } from "../src/_lock_name.ts";
import { writeFakeLock } from "./_lock_fixtures.ts";
import {
  backdate,
  DEAD_PID,
  deadWriter,
  doneButInterrupted,
  failsWith,
  type Fault,
  faultAdapter,
  using,
  withTempDir,
} from "./_fixtures.ts";

const HOUR = 60 * 60 * 1000;

/** A temporary file of a gone writer in `dir`, an hour old. */
function staleTemp(dir: string): string {
  const file = path.join(dir, tempName("a.txt", deadWriter()));
  fs.writeFileSync(file, "partial");
  backdate(file, HOUR);
  return file;
}

/** Every writer is gone: the sweep removes what it may. */
const allGone = { writerState: () => "gone" as const };

for (
  const [name, sweep] of [
    ["removeStaleTemps()", removeStaleTemps],
    ["removeStaleTempsSync()", removeStaleTempsSync],
  ] as const
) {
  test(`${name} removes a stale temp file whose unlink a signal interrupted (EINTR), as on every runtime`, async () => {
    await withTempDir(async (dir) => {
      const file = staleTemp(dir);
      const adapter = faultAdapter(
        [{ op: "remove", code: "EINTR", times: 2 }],
        allGone,
      );
      const removed = await using(
        adapter,
        () => sweep(dir, { olderThan: 0 }),
      );
      assert.deepEqual(removed, [file]);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}

for (
  const [name, sweep] of [
    ["removeStaleTemps()", removeStaleTemps],
    ["removeStaleTempsSync()", removeStaleTempsSync],
  ] as const
) {
  test(`${name} skips a stale temp file that the kernel will not remove through an idmapped mount (EOVERFLOW: its owner unmapped) and sweeps the rest`, async () => {
    await withTempDir(async (dir) => {
      const unmapped = staleTemp(dir);
      const other = path.join(dir, tempName("b.txt", deadWriter()));
      fs.writeFileSync(other, "partial");
      backdate(other, HOUR);
      const adapter = faultAdapter(
        [{
          op: "remove",
          code: "EOVERFLOW",
          where: ([file]) => file === unmapped,
        }],
        allGone,
      );
      const removed = await using(
        adapter,
        () => sweep(dir, { olderThan: 0 }),
      );
      assert.deepEqual(removed, [other]);
      assert.deepEqual(fs.readdirSync(dir), [path.basename(unmapped)]);
    });
  });
}

for (
  const [name, sweep] of [
    ["removeStaleTemps()", removeStaleTemps],
    ["removeStaleTempsSync()", removeStaleTempsSync],
  ] as const
) {
  test(`${name} counts a temp file as removed when its interrupted unlink removed it and the retry finds it gone`, async () => {
    await withTempDir(async (dir) => {
      const file = staleTemp(dir);
      const removed = await using(
        doneButInterrupted("remove", allGone),
        () => sweep(dir, { olderThan: 0 }),
      );
      assert.deepEqual(removed, [file]);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}

test("removeStaleTemps() reads the directory again when a signal interrupted it (EINTR)", async () => {
  await withTempDir(async (dir) => {
    const file = staleTemp(dir);
    const adapter = faultAdapter(
      [{ op: "readDir", code: "EINTR", times: 1 }],
      allGone,
    );
    const removed = await using(
      adapter,
      () => removeStaleTemps(dir, { olderThan: 0 }),
    );
    assert.deepEqual(removed, [file]);
  });
});

test("lockFile() release removes the lock file when a signal interrupted its unlink (EINTR)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const adapter = faultAdapter([{ op: "remove", code: "EINTR", times: 1 }]);
    await using(adapter, async () => {
      const lock = await lockFile(target);
      await lock.release();
    });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFileSync() releaseSync removes the lock file when a signal interrupted its unlink (EINTR)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const adapter = faultAdapter([{ op: "remove", code: "EINTR", times: 1 }]);
    await using(adapter, () => {
      const lock = lockFileSync(target);
      lock.releaseSync();
    });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

for (
  const [name, take] of [
    ["lockFile()", (file: string) => lockFile(file, { timeout: 2_000 })],
    [
      "lockFileSync()",
      (file: string) =>
        Promise.resolve().then(() => lockFileSync(file, { timeout: 2_000 })),
    ],
  ] as const
) {
  test(`${name} takes the lock when its interrupted link made it and the retry finds the name taken by that very file`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      await using(doneButInterrupted("link"), async () => {
        // Without the look, it waited for its own lock: out of its timeout.
        const lock = await take(target);
        assert.equal(lock.signal.aborted, false);
        await lock.release();
      });
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}

/** The token of the fake locks below. */
const TOKEN = "0123456789abcdef";

/**
 * A dead holder's lock on `dir/f` as its reclaimer leaves it when it dies
 * (or fails to remove it) after it moved the lock onto its reclaim mutex:
 * at the mutex's name, which carries the lock's own token.
 */
function movedLock(dir: string): string {
  const lock = writeFakeLock(path.join(dir, "f"), { pid: DEAD_PID }, 1_000);
  const mutex = path.join(dir, reclaimName(lockName("f"), TOKEN));
  fs.renameSync(lock, mutex);
  return mutex;
}

for (
  const [name, sweep] of [
    ["removeStaleTemps()", removeStaleTemps],
    ["removeStaleTempsSync()", removeStaleTempsSync],
  ] as const
) {
  test(`${name} removes a dead holder's lock that its reclaimer left at the reclaim mutex's name`, async () => {
    await withTempDir(async (dir) => {
      const mutex = movedLock(dir);
      assert.deepEqual(await sweep(dir, { olderThan: 0 }), [mutex]);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}

test("removeStaleTemps() removes a dead holder's lock and the mutex its reclaimer left when it died before moving the lock", async () => {
  await withTempDir(async (dir) => {
    const lock = writeFakeLock(path.join(dir, "f"), { pid: DEAD_PID }, 1_000);
    // The mutex holds its reclaimer's record, with a token of its own.
    const record = writeFakeLock(
      path.join(dir, "g"),
      { pid: DEAD_PID, token: "fedcba9876543210" },
      1_000,
    );
    const mutex = path.join(dir, reclaimName(lockName("f"), TOKEN));
    fs.renameSync(record, mutex);
    const removed = await removeStaleTemps(dir, { olderThan: 0 });
    assert.deepEqual(removed.sort(), [mutex, lock].sort());
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() takes the lock when the stale lock it judged was moved onto its reclaim mutex by another reclaimer meanwhile", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    writeFakeLock(target, { pid: DEAD_PID }, 1_000);
    // Another reclaimer makes the mutex first and moves the lock onto it
    // (step 3), just before this waiter tries to make the mutex.
    let moved = false;
    const adapter = faultAdapter([{
      op: "createExclusive",
      code: "EEXIST",
      times: 1,
      where: ([file]) => {
        const name = path.basename(file as string);
        if (moved || name !== reclaimName(lockName("f"), TOKEN)) return false;
        fs.renameSync(
          path.join(path.dirname(file as string), lockName("f")),
          file as string,
        );
        return moved = true;
      },
    }]);
    await using(adapter, async () => {
      const lock = await lockFile(target, { timeout: 5_000 });
      await lock.release();
    });
    // What that reclaimer would have removed, had it lived, the sweep does.
    await removeStaleTemps(dir, { olderThan: 0 });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() takes the lock when the stale lock it judged went between its last look and its rename onto the mutex (ENOENT)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    writeFakeLock(target, { pid: DEAD_PID }, 1_000);
    // The lock goes (another's reclaim, a sweep) just as this waiter, holding
    // the mutex, moves it: its rename finds nothing there.
    let gone = false;
    const adapter = faultAdapter([{
      op: "rename",
      code: "ENOENT",
      times: 1,
      where: ([from]) => {
        if (gone || path.basename(from as string) !== lockName("f")) {
          return false;
        }
        fs.unlinkSync(from as string);
        return gone = true;
      },
    }]);
    await using(adapter, async () => {
      const lock = await lockFile(target, { timeout: 5_000 });
      await lock.release();
    });
    assert.equal(gone, true);
    await removeStaleTemps(dir, { olderThan: 0 });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

/** An argument's name, whatever directory it is named through. */
function named(arg: unknown): string {
  return typeof arg === "string" ? path.basename(arg) : "";
}

const LOCK = lockName("f");
const MUTEX = reclaimName(LOCK, TOKEN);

for (
  const { fault, what, operation, at } of [
    {
      what: "the lock cannot be looked at",
      fault: { op: "lstat", code: "EIO", where: ([p]) => named(p) === LOCK },
      operation: "stat lock",
      at: LOCK,
    },
    {
      what: "the lock cannot be read",
      fault: { op: "readFile", code: "EIO", where: ([p]) => named(p) === LOCK },
      operation: "read lock",
      at: LOCK,
    },
    {
      what: "its reclaim mutex cannot be made",
      fault: {
        op: "createExclusive",
        code: "EDQUOT",
        where: ([p]) => named(p) === MUTEX,
      },
      operation: "reclaim lock",
      at: MUTEX,
    },
    {
      what: "its reclaim mutex's record cannot be written",
      fault: { op: "write", code: "ENOSPC" },
      operation: "reclaim lock",
      at: MUTEX,
    },
    {
      what: "the lock cannot be moved onto its mutex",
      fault: {
        op: "rename",
        code: "EIO",
        where: ([, to]) => named(to) === MUTEX,
      },
      operation: "reclaim lock",
      at: LOCK,
    },
  ] satisfies { what: string; fault: Fault; operation: string; at: string }[]
) {
  test(`removeStaleTemps() rejects with the code when a dead holder's lock is left because ${what} (${fault.code})`, async () => {
    await withTempDir(async (dir) => {
      const lock = writeFakeLock(path.join(dir, "f"), { pid: DEAD_PID }, 1_000);
      await using(faultAdapter([fault]), async () => {
        const error = await failsWith(
          removeStaleTemps(dir, { olderThan: 0 }),
          fault.code,
        );
        assert.equal(error.operation, operation);
        assert.equal(path.basename(error.path), at);
        assert.match(
          error.message,
          /^Cannot remove stale temporary files in "/,
        );
      });
      assert.ok(fs.existsSync(lock));
    });
  });
}

test("removeStaleTemps() removes the stale temp files before it rejects for a dead holder's lock that a full disk leaves", async () => {
  await withTempDir(async (dir) => {
    const lock = writeFakeLock(path.join(dir, "f"), { pid: DEAD_PID }, 1_000);
    const file = staleTemp(dir);
    const adapter = faultAdapter([{ op: "write", code: "ENOSPC" }], allGone);
    await using(
      adapter,
      () => failsWith(removeStaleTemps(dir, { olderThan: 0 }), "ENOSPC"),
    );
    assert.ok(fs.existsSync(lock));
    assert.ok(!fs.existsSync(file));
  });
});
