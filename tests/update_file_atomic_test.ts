/** updateFileAtomic() and updateFileAtomicSync(): read-modify-write under the lock. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { constants as bufferConstants } from "node:buffer";
import fs from "node:fs";
import path from "node:path";
import { runInNewContext } from "node:vm";
import {
  AtomicWriteError,
  lockFile,
  updateFileAtomic,
  updateFileAtomicSync,
  type UpdateOptions,
  type UpdateResult,
} from "../mod.ts";
import {
  canDropPrivileges,
  DEAD_PID,
  failsWith,
  faultAdapter,
  read,
  runtimeName,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { linkedTree, mkfifo } from "./_path_fixtures.ts";
import { type Mount, mountProblem, mountTmpfs } from "./_mounts.ts";
import {
  notRoot,
  plantedSecretLink,
  refusesPlantedLink,
} from "./_sticky_fixtures.ts";
import { counterValue, increment } from "./_lock_child.ts";
import {
  contention,
  lockPathOf,
  locksUnder,
  MIXED_WORKERS,
  otherRuntimesMissing,
  startLockChild,
  writeFakeLock,
} from "./_lock_fixtures.ts";
import { withNobody } from "./_as_nobody.ts";
import { skipTest } from "./_skip.ts";

/** For tests that start child processes: the machine is shared and noisy. */
const SLOW = { timeout: 60_000 };

const text = (bytes: Uint8Array | null) =>
  bytes === null ? null : new TextDecoder().decode(bytes);

/** The two update functions, tested alike. */
const updates = [
  {
    name: "updateFileAtomic()",
    fails: "rejects",
    update: <T extends UpdateResult>(
      p: string,
      fn: (c: Uint8Array | null) => T,
      o?: UpdateOptions,
    ) => updateFileAtomic(p, fn, o),
  },
  {
    name: "updateFileAtomicSync()",
    fails: "throws",
    update: <T extends UpdateResult>(
      p: string,
      fn: (c: Uint8Array | null) => T,
      o?: UpdateOptions,
    ) => {
      try {
        return Promise.resolve(updateFileAtomicSync(p, fn, o));
      } catch (error) {
        return Promise.reject(error);
      }
    },
  },
];

for (const { name, fails, update } of updates) {
  test(`${name} ${fails} with the signal's reason when fn aborts it, even returning undefined`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "data.json");
      fs.writeFileSync(target, "old");
      const reason = new Error("cancelled in fn");
      for (const returned of ["new", undefined]) {
        const controller = new AbortController();
        await assert.rejects(
          update(target, () => {
            controller.abort(reason);
            return returned;
          }, { signal: controller.signal }),
          (error) => error === reason,
        );
      }
      assert.equal(read(target), "old");
      assert.deepEqual(fs.readdirSync(dir), ["data.json"]);
    });
  });

  test(`${name} does not call fn once the signal has aborted during the read`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "data.json");
      fs.writeFileSync(target, "old");
      const controller = new AbortController();
      const reason = new Error("cancelled");
      const adapter = faultAdapter([]);
      for (const ops of [adapter.sync, adapter.async] as const) {
        const readFile = ops.readFile as (p: string) => unknown;
        (ops as { readFile: (p: string) => unknown }).readFile = (p) => {
          controller.abort(reason);
          return readFile(p);
        };
      }
      let called = false;
      await using(adapter, async () => {
        await assert.rejects(
          update(target, () => {
            called = true;
            return "new";
          }, { signal: controller.signal }),
          (error) => error === reason,
        );
      });
      assert.equal(called, false);
      assert.equal(read(target), "old");
    });
  });

  test(`${name} creates a missing file, passing null to fn`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "new.txt");
      let seen: string | null | undefined;
      await update(target, (current) => {
        seen = text(current);
        return "first";
      });
      assert.equal(seen, null);
      assert.equal(read(target), "first");
      assert.deepEqual(fs.readdirSync(dir), ["new.txt"]);
    });
  });

  test(`${name} writes a string result in the encoding option`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "latin1.txt");
      await update(target, () => "caf\u00e9", { encoding: "latin1" });
      assert.deepEqual([...fs.readFileSync(target)], [99, 97, 102, 0xe9]);
    });
  });

  test(`${name} passes the current bytes and returns what fn returned`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "n.txt");
      fs.writeFileSync(target, "41");
      const result = await update(target, (c) => String(Number(text(c)) + 1));
      assert.equal(result, "42");
      assert.equal(read(target), "42");
    });
  });

  test(`${name} passes a plain Uint8Array over exactly the file's bytes, as on every runtime`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "n.txt");
      fs.writeFileSync(target, "41");
      let seen: Uint8Array | null = null;
      await update(target, (c) => (seen = c, undefined));
      assert.ok(seen !== null);
      const bytes: Uint8Array = seen;
      // Not a Buffer: `${current}` lists numbers everywhere, as on Deno.
      assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype);
      assert.equal(String(bytes), "52,49");
      assert.equal(bytes.byteOffset, 0);
      assert.equal(bytes.buffer.byteLength, 2);
    });
  });

  test(`${name} leaves the file as it is when fn returns undefined`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "keep.txt");
      fs.writeFileSync(target, "same");
      const before = fs.statSync(target).ino;
      assert.equal(await update(target, () => undefined), undefined);
      assert.equal(fs.statSync(target).ino, before, "not even rewritten");
      assert.deepEqual(fs.readdirSync(dir), ["keep.txt"]);
    });
  });

  test(`${name} ${fails} with fn's error, changes nothing and releases the lock`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      const boom = new Error("boom");
      await assert.rejects(
        update(target, () => {
          throw boom;
        }),
        (error) => error === boom,
      );
      assert.equal(read(target), "old");
      assert.deepEqual(fs.readdirSync(dir), ["f.txt"]);
      await update(target, () => "next"); // the lock is free again
      assert.equal(read(target), "next");
    });
  });

  test(`${name} ${fails} with a TypeError before touching any file`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      const bad: [unknown, unknown, unknown][] = [
        ["", () => "x", undefined],
        [target, "not a function", undefined],
        [target, () => "x", { timeout: "1" }],
        [target, () => "x", { lease: -1 }],
        [target, () => "x", { signal: {} }],
        [target, () => "x", { mode: "644" }],
        [target, () => "x", { timeoutMs: 5 }],
      ];
      for (const [p, fn, options] of bad) {
        await assert.rejects(
          // deno-lint-ignore no-explicit-any
          update(p as string, fn as any, options as UpdateOptions),
          (e) => e instanceof TypeError || e instanceof RangeError,
        );
      }
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} ${fails} with a TypeError when fn returns something else than content`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      await assert.rejects(
        // deno-lint-ignore no-explicit-any
        update(target, (() => 42) as any),
        TypeError,
      );
      assert.equal(read(target), "old");
      assert.deepEqual(fs.readdirSync(dir), ["f.txt"]);
    });
  });

  test(
    `${name} ${fails} with EAGAIN, and replaces neither file, when a file system is mounted over its directory while fn runs`,
    { skip: mountProblem() ?? false },
    async () => {
      await withTempDir(async (dir) => {
        const sub = path.join(dir, "sub");
        const target = path.join(sub, "config");
        fs.mkdirSync(sub);
        fs.writeFileSync(target, "locked");
        let over: Mount | null = null;
        try {
          await failsWith(
            update(target, () => {
              over = mountTmpfs("atomic-test-over", sub, "1m");
              fs.writeFileSync(target, "mounted over");
              return "new";
            }),
            "EAGAIN",
          );
          assert.equal(read(target), "mounted over");
          assert.deepEqual(fs.readdirSync(sub), ["config"]);
        } finally {
          (over as Mount | null)?.close();
        }
        assert.equal(read(target), "locked");
        assert.deepEqual(fs.readdirSync(sub), ["config"]);
      });
    },
  );

  test(`${name} writes a Uint8Array of another realm (node:vm) that fn returns`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      await update(
        target,
        () => runInNewContext("new Uint8Array([110, 101, 119])") as Uint8Array,
      );
      assert.equal(read(target), "new");
    });
  });

  test(`${name} writes the bytes of any view or ArrayBuffer that fn returns, as writeFileAtomic does`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      const bytes = new Uint8Array([0, 110, 101, 119, 0]); // "\0new\0"
      const results: [string, UpdateResult][] = [
        ["a DataView", new DataView(bytes.buffer, 1, 3)],
        ["a Uint16Array", new Uint16Array(bytes.buffer.slice(1, 5))],
        ["an ArrayBuffer", bytes.buffer.slice(1, 4)],
      ];
      for (const [kind, result] of results) {
        fs.writeFileSync(target, "old");
        assert.equal(await update(target, () => result), result, kind);
        const expected = kind === "a Uint16Array" ? "new\0" : "new";
        assert.equal(read(target), expected, kind);
      }
      assert.deepEqual(fs.readdirSync(dir), ["f.txt"]);
    });
  });

  test(`${name} locks and replaces the file a symbolic link points to`, async () => {
    await withTempDir(async (dir) => {
      fs.mkdirSync(path.join(dir, "real"));
      const real = path.join(dir, "real", "data.txt");
      const link = path.join(dir, "link.txt");
      fs.writeFileSync(real, "1");
      fs.symlinkSync(path.join("real", "data.txt"), link);
      let lockSeen = false;
      await update(link, (c) => {
        lockSeen = fs.existsSync(lockPathOf(real));
        return String(Number(text(c)) + 1);
      });
      assert.ok(lockSeen, "the lock is beside the real file");
      assert.ok(fs.lstatSync(link).isSymbolicLink(), "the link stays a link");
      assert.equal(read(real), "2");
    });
  });

  test(`${name} locks the file a relative link reached through a linked directory leads to`, async () => {
    await withTempDir(async (dir) => {
      const { real, alias } = linkedTree(dir);
      let locks: string[] = [];
      await update(path.join(alias, "link"), () => {
        locks = locksUnder(dir);
        return "new";
      });
      assert.deepEqual(locks, [path.relative(dir, lockPathOf(real))]);
      assert.equal(read(real), "new");
      assert.deepEqual(locksUnder(dir), []);
    });
  });

  test(
    `${name} ${fails} with EACCES on a link another user planted in a sticky directory, before reading it`,
    {
      skip: notRoot,
    },
    async () => {
      await withTempDir(async (dir) => {
        const { link, secret } = plantedSecretLink(dir);
        let called = false;
        await refusesPlantedLink(() =>
          update(link, () => {
            called = true;
            return "root's data";
          })
        );
        assert.equal(called, false, "fn never saw the root-only file");
        assert.equal(read(secret), "secret");
        assert.deepEqual(locksUnder(dir), []);
      });
    },
  );

  test(`${name} ${fails} with ENOTSUP for a FIFO before calling fn`, async (t) => {
    await withTempDir(async (dir) => {
      const fifo = path.join(dir, "fifo");
      const skip = mkfifo(fifo);
      if (skip !== null) return void skipTest(t, skip);
      let called = false;
      await failsWith(
        update(fifo, () => {
          called = true;
          return "x";
        }),
        "ENOTSUP",
      );
      assert.equal(called, false);
      assert.ok(fs.lstatSync(fifo).isFIFO());
      assert.deepEqual(locksUnder(dir), []);
    });
  });

  test(`${name} works for a 255-byte file name with a lock name within 255 bytes`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "é".repeat(127) + "x");
      assert.equal(Buffer.byteLength(path.basename(target)), 255);
      let lockName = "";
      await update(target, () => {
        lockName = fs.readdirSync(dir).find((n) => n.endsWith(".atomic-lock"))!;
        return "ok";
      });
      assert.ok(Buffer.byteLength(lockName) <= 255, lockName);
      assert.equal(read(target), "ok");
    });
  });

  test(`${name} ${fails} with ELOCKLOST and does not commit when its lock was taken over`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      await assert.rejects(
        update(target, () => {
          // Another process reclaimed the lock meanwhile and holds it now.
          takeOverLock(target);
          return "lost update";
        }),
        (e) => e instanceof AtomicWriteError && e.code === "ELOCKLOST",
      );
      assert.equal(read(target), "old");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} ${fails} with ELOCKLOST, saying less than its lease's margin was left, when fn blocks past the lease less its margin though within the lease`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      // 900 ms of a 1000 ms lease: past 800 ms, the lease less its margin.
      const error = await failsWith(
        update(target, () => {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 900);
          return "late";
        }, { lease: 1000 }),
        "ELOCKLOST",
      );
      assert.match(
        error.message,
        /had less than its margin \(200 ms of 1000 ms\) left before/,
      );
      assert.equal(read(target), "old");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} lets its lock go once renamed, before its directory's fsync ends`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      const adapter = faultAdapter([]);
      const { syncDir } = adapter.sync;
      const { syncDir: syncDirAsync } = adapter.async;
      const lockThere: boolean[] = [];
      const look = () => lockThere.push(fs.existsSync(lockPathOf(target)));
      adapter.sync.syncDir = (at) => (look(), syncDir(at));
      adapter.async.syncDir = async (at) => {
        // The release runs meanwhile.
        await new Promise((resolve) => setTimeout(resolve, 50));
        look();
        return await syncDirAsync(at);
      };

      await using(adapter, () => update(target, () => "new"));

      assert.deepEqual(lockThere, [false]);
      assert.equal(read(target), "new");
      assert.deepEqual(locksUnder(dir), []);
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} ${fails} with the directory fsync's error after the rename, its lock released`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      const adapter = faultAdapter([{ op: "syncDir", code: "EIO" }]);

      await using(
        adapter,
        () => failsWith(update(target, () => "new"), "EIO"),
      );

      // The rename was made: the new content is in place, not yet durable.
      assert.equal(read(target), "new");
      assert.deepEqual(locksUnder(dir), []);
      assert.deepEqual(tempsIn(dir), []);
      await update(target, (current) => `${text(current)} again`);
      assert.equal(read(target), "new again");
    });
  });

  test(`${name} ${fails} with the look's own error, not EAGAIN, when it cannot look at its directory before the rename (an I/O error)`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      // Every stat of the directory by its path fails once fn has run: the
      // look that tells whether the path still leads to the directory held.
      let ran = false;
      const adapter = faultAdapter([
        { op: "stat", code: "EIO", where: (args) => ran && args[0] === dir },
      ]);
      const error = await using(
        adapter,
        () =>
          failsWith(
            update(target, () => {
              ran = true;
              return "new";
            }),
            "EIO",
          ),
      );
      assert.equal(error.operation, "stat");
      assert.equal(read(target), "old");
      assert.deepEqual(locksUnder(dir), []);
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} ${fails} with ETIMEDOUT when the lock stays held past the timeout`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f.txt");
      // A live holder (this process, another lock) within its lease.
      writeFakeLock(target, { lease: 60_000 });
      await assert.rejects(
        update(target, () => "x", { timeout: 30 }),
        (e) => e instanceof AtomicWriteError && e.code === "ETIMEDOUT",
      );
      assert.equal(fs.existsSync(target), false);
    });
  });
}

/**
 * Takes over `target`'s lock as another process does: another file at the
 * lock's name, with a record of its own.
 */
function takeOverLock(target: string): void {
  const lock = lockPathOf(target);
  const record = JSON.parse(fs.readFileSync(lock, "utf8"));
  record.token = record.token === "1".repeat(16)
    ? "2".repeat(16)
    : "1".repeat(16);
  fs.writeFileSync(lock + ".new", JSON.stringify(record));
  fs.renameSync(lock + ".new", lock);
}

test("updateFileAtomic() does not commit when its lock is taken over during a slow fsync of its data (the look made alongside it is old by then)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f.txt");
    fs.writeFileSync(target, "old");
    const adapter = faultAdapter([]);
    const realSync = adapter.async.sync;
    let calls = 0;
    adapter.async.sync = async (file) => {
      if (++calls === 1) {
        await new Promise((r) => setTimeout(r, 100));
        takeOverLock(target);
      }
      return await realSync(file);
    };
    await using(
      adapter,
      () =>
        failsWith(updateFileAtomic(target, () => "lost update"), "ELOCKLOST"),
    );
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("updateFileAtomic() commits when the look at its lock made alongside the fsync misses it but a look after finds it (a network file system's cache)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f.txt");
    fs.writeFileSync(target, "old");
    const adapter = faultAdapter([]);
    const { sync: realSync, lstat: realLstat } = adapter.async;
    let syncing = false;
    adapter.async.sync = async (file) => {
      syncing = true;
      try {
        return await realSync(file);
      } finally {
        syncing = false;
      }
    };
    adapter.async.lstat = (p) =>
      syncing && p === lockPathOf(target)
        ? Promise.resolve(null)
        : realLstat(p);
    await using(adapter, () => updateFileAtomic(target, () => "new"));
    assert.equal(read(target), "new");
  });
});

test("updateFileAtomic() rejects with the signal's reason when aborted while waiting", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f.txt");
    const lock = await lockFile(target);
    try {
      const controller = new AbortController();
      const reason = new Error("stop waiting");
      const waiting = updateFileAtomic(target, () => "x", {
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(reason), 30);
      await assert.rejects(waiting, (e) => e === reason);
      assert.equal(fs.existsSync(target), false);
    } finally {
      await lock.release();
    }
  });
});

test("updateFileAtomic() does not commit when the signal aborts during fn", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f.txt");
    fs.writeFileSync(target, "old");
    const controller = new AbortController();
    await assert.rejects(
      updateFileAtomic(target, () => {
        controller.abort(new Error("cancelled"));
        return "new";
      }, { signal: controller.signal }),
      /cancelled/,
    );
    assert.equal(read(target), "old");
    assert.deepEqual(fs.readdirSync(dir), ["f.txt"]);
  });
});

test("updateFileAtomic() rejects at once when the signal aborts while fn's promise is pending, and holds the lock until fn settles", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f.txt");
    fs.writeFileSync(target, "old");
    const controller = new AbortController();
    let inside = true;
    const update = updateFileAtomic(
      target,
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        inside = false; // what fn did, under the lock, ends here
        return "new";
      },
      { signal: controller.signal },
    );
    setTimeout(() => controller.abort(new Error("cancelled")), 50);
    await assert.rejects(update, /cancelled/);
    assert.equal(inside, true, "the update waited for fn");
    await failsWith(lockFile(target, { timeout: 0 }), "ETIMEDOUT");
    const next = await lockFile(target, { timeout: 5_000 });
    assert.equal(inside, false, "the lock was taken while fn ran");
    await next.release();
    assert.equal(read(target), "old");
    assert.deepEqual(fs.readdirSync(dir), ["f.txt"]);
  });
});

test("updateFileAtomic() names what it could not do in its write's failures too: update the file", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f.txt");
    fs.writeFileSync(target, "old");
    const error = await failsWith(
      updateFileAtomic(target, () => "new", { overwrite: false }),
      "EEXIST",
    );
    assert.match(error.message, /^Cannot update "/);
    assert.equal(read(target), "old");
  });
});

for (const { name, fails, update } of updates) {
  test(`${name} with overwrite: false ${fails} with EEXIST, as its write would, at a directory, a FIFO, a link and a dir/. at the name, without calling fn or leaving a lock`, async () => {
    await withTempDir(async (dir) => {
      const sub = path.join(dir, "sub");
      fs.mkdirSync(sub);
      fs.symlinkSync(sub, path.join(dir, "link"));
      const fifo = path.join(dir, "fifo");
      const noFifo = mkfifo(fifo);
      const names = [sub, path.join(dir, "link"), `${sub}${path.sep}.`];
      let called = 0;
      for (const target of noFifo ? names : [...names, fifo]) {
        await failsWith(
          update(target, () => void called++, { overwrite: false }),
          "EEXIST",
        );
      }
      assert.equal(called, 0);
      assert.deepEqual(fs.readdirSync(sub), []);
      assert.deepEqual(
        fs.readdirSync(dir).sort(),
        noFifo ? ["link", "sub"] : ["fifo", "link", "sub"],
      );
    });
  });
}

test("updateFileAtomicSync() throws a TypeError when fn returns a promise, leaving the file", async () => {
  await withTempDir((dir) => {
    const target = path.join(dir, "f.txt");
    fs.writeFileSync(target, "old");
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => updateFileAtomicSync(target, (() => Promise.resolve("x")) as any),
      TypeError,
    );
    assert.equal(read(target), "old");
    assert.deepEqual(fs.readdirSync(dir), ["f.txt"]);
  });
});

/** Why a file larger than any buffer cannot be made here, if it cannot. */
const buffersHoldAnyFile = bufferConstants.MAX_LENGTH > 2 ** 40 &&
  `this runtime's buffers hold files of up to ${bufferConstants.MAX_LENGTH} bytes (Bun's: 4 GiB)`;

test(
  "updateFileAtomic() and updateFileAtomicSync() fail with EFBIG for a file larger than the runtime's largest buffer, leaving it",
  { skip: buffersHoldAnyFile },
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "big");
      const size = bufferConstants.MAX_LENGTH + 2;
      fs.writeFileSync(target, "<");
      fs.truncateSync(target, size); // sparse: no disk, no memory
      for (const update of [updateFileAtomic, updateFileAtomicSync]) {
        await failsWith(
          (async () => await update(target, () => "lost"))(),
          "EFBIG",
        );
      }
      assert.equal(fs.statSync(target).size, size);
      assert.deepEqual(fs.readdirSync(dir), ["big"]);
    });
  },
);

test("updateFileAtomicSync() throws its TypeError when an async fn rejects, and the rejection is not left unhandled", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f.txt");
    fs.writeFileSync(target, "old");
    const failing = (): Promise<string> =>
      Promise.reject(new Error("fn failed"));
    assert.throws(
      // deno-lint-ignore no-explicit-any
      () => updateFileAtomicSync(target, failing as any),
      TypeError,
    );
    // An unhandled rejection would fail this test (and end the process).
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(read(target), "old");
  });
});

test(
  "updateFileAtomic() calls from 2 Deno, 2 Bun and 2 Node processes, sync and async, lose no update",
  { ...SLOW, skip: otherRuntimesMissing() ?? false },
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "counter.json");
      const n = 8;
      const result = await contention(target, MIXED_WORKERS, n);
      assert.equal(result.final, MIXED_WORKERS.length * n);
      assert.deepEqual(result.duplicates, [], "no value acknowledged twice");
      assert.equal(result.acks.length, MIXED_WORKERS.length * n);
      assert.deepEqual(fs.readdirSync(dir), ["counter.json"]);
    });
  },
);

for (const api of ["async", "sync"]) {
  test(
    `update (${api}) of a file that became a FIFO while it waited for the lock fails with ENOTSUP, reading nothing and leaving no lock`,
    { skip: process.platform === "win32" && "no FIFOs" },
    async (t) => {
      await withTempDir(async (dir) => {
        const target = path.join(dir, "f");
        fs.writeFileSync(target, "old\n");
        const holder = startLockChild(runtimeName(), ["hold", target]);
        await holder.waitFor((l) => l === "held");
        // Waits on another process's lock, resolved while the file was one.
        const updater = startLockChild(runtimeName(), ["update", target, api]);
        // It waits once its own file for the lock is there (its pid names it).
        const mine = `.${updater.pid}-`;
        for (let i = 0; i < 500; i++) {
          if (fs.readdirSync(dir).some((name) => name.includes(mine))) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        fs.rmSync(target);
        const skip = mkfifo(target);
        if (skip) {
          holder.kill("SIGKILL");
          updater.kill("SIGKILL");
          return skipTest(t, skip);
        }
        holder.kill("SIGKILL"); // its lock is taken over at once
        const said = await updater.waitFor(() => true);
        assert.match(said, /^ENOTSUP read: Cannot update /);
        await updater.ended;
        assert.deepEqual(fs.readdirSync(dir), ["f"]);
        assert.ok(fs.lstatSync(target).isFIFO());
      });
    },
  );
}

test(
  "updateFileAtomic() of a holder stalled past its lease does not commit, and the next update wins",
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "counter.json");
      fs.writeFileSync(target, increment(null)); // n = 1
      const lease = 1_000; // the minimum
      const stalled = startLockChild(runtimeName(), [
        "stall",
        target,
        String(lease),
        String(lease * 4),
      ]);
      await stalled.waitFor((l) => l === "in");
      // The stalled holder is alive: only its lease lets this update through.
      const started = performance.now();
      await updateFileAtomic(target, increment);
      assert.ok(
        performance.now() - started >= lease * 0.5,
        "waited for the lease",
      );
      assert.equal(await stalled.waitFor((l) => l !== "in"), "ELOCKLOST");
      assert.equal((await stalled.ended).code, 0);
      assert.equal(
        counterValue(read(target)),
        2,
        "applied once, by the live holder",
      );
      assert.deepEqual(fs.readdirSync(dir), ["counter.json"]);
    });
  },
);

test(
  "updateFileAtomic() run by another user rejects with EPERM a dead holder's lock it may not remove in a sticky directory, naming its owner",
  { skip: canDropPrivileges() ?? false },
  async () => {
    await withNobody((asNobody, shared) => {
      const target = path.join(shared, "state.txt");
      const lock = writeFakeLock(target, { pid: DEAD_PID }, 60_000);
      const said = asNobody("update", target);
      assert.match(said, /^EPERM /);
      assert.match(said, /belongs to another user \(uid 0\)/);
      assert.ok(fs.existsSync(lock));
      assert.ok(!fs.existsSync(target));
    });
  },
);

for (
  const op of ["createExclusive", "write", "chmod", "sync", "rename"] as const
) {
  test(`updateFileAtomic() says "Cannot update" when its ${op} fails, as with every failure`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "data.json");
      fs.writeFileSync(file, "old");
      // EBUSY: at the rename, the one for a file mounted onto the target.
      const adapter = faultAdapter([{ op, code: "EBUSY" }]);
      await using(adapter, async () => {
        const error = await failsWith(
          updateFileAtomic(file, () => "new"),
          "EBUSY",
        );
        assert.match(error.message, /^Cannot update "/);
      });
      assert.equal(read(file), "old");
    });
  });
}

test("updateFileAtomic() aborted while it checks its lock before the rename rejects with the reason and changes nothing", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "data.json");
    fs.writeFileSync(file, "old");
    const controller = new AbortController();
    const adapter = faultAdapter([]);
    const lstat = adapter.async.lstat;
    let renamed = false;
    const rename = adapter.async.rename;
    adapter.async.rename = (from, to) => {
      renamed = true;
      return rename(from, to);
    };
    // The look at the lock just before the rename (no fsync: no look beside it).
    adapter.async.lstat = (name) => {
      if (name.endsWith(".atomic-lock") && !renamed) {
        controller.abort(new Error("cancelled"));
      }
      return lstat(name);
    };
    await using(adapter, async () => {
      await assert.rejects(
        updateFileAtomic(file, () => "new", {
          fsync: false,
          signal: controller.signal,
        }),
        /cancelled/,
      );
    });
    assert.equal(read(file), "old");
    assert.deepEqual(fs.readdirSync(dir), ["data.json"]);
  });
});
