/** lockFile() and lockFileSync(): the lock file protocol, takeover and loss. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import {
  AtomicWriteError,
  type FileLock,
  lockFile,
  lockFileSync,
  removeStaleTemps,
  updateFileAtomic,
  updateFileAtomicSync,
} from "../mod.ts";
import {
  backdate,
  DEAD_PID,
  deadWriter,
  failsWith,
  type Fault,
  type FaultAdapter,
  faultAdapter,
  read,
  runtimeName,
  using,
  withTempDir,
} from "./_fixtures.ts";
import {
  isKnownWriter,
  tempName,
  tempNameOwner,
  type TempOwner,
} from "../src/_temp_name.ts";
import { identityToken, parseRecord } from "../src/_lock_record.ts";
import { detectAdapter } from "../src/runtime/detect.ts";
import { heartbeat } from "../src/_lock_hold.ts";
import type { HeldLock } from "../src/lock_file.ts";
import { runAsync } from "../src/_run.ts";
import { inLine } from "../src/_lock_wait.ts";
import { lockName, reclaimName } from "../src/_lock_name.ts";
import { encodeRecord } from "../src/_lock_record.ts";
import { processIdentity } from "../src/runtime/_writer_identity.ts";
import {
  lockChildSays,
  lockPathOf,
  locksUnder,
  startLockChild,
  writeEmptyLock,
  writeFakeLock,
  writeLockBeforeBoot,
} from "./_lock_fixtures.ts";
import { linkedTree, mkfifo } from "./_path_fixtures.ts";
import {
  notRoot,
  plantedSecretLink,
  refusesPlantedLink,
} from "./_sticky_fixtures.ts";
import { skipTest } from "./_skip.ts";
import { clocks } from "../src/_clock.ts";

/** For tests that start child processes: the machine is shared and noisy. */
const SLOW = { timeout: 180_000 };
const LONG_LEASE = 60_000;
/** Well below LONG_LEASE: a takeover within it did not wait for the lease. */
const PROMPTLY = { timeout: 30_000 };
const cell = new Int32Array(new SharedArrayBuffer(4));
/** A thread of this host that is certainly gone, as a lock holder's second name says. */
const goneThread = deadWriter();
/** Why a holder's second name proves nothing here, if it does not. */
const cannotNameThreads = isKnownWriter(goneThread)
  ? false
  : "/proc cannot name this thread: only the lease can tell";

/** Makes a child on this runtime take the lock of `target`, then kills it with SIGKILL (and reaps it). */
async function killedHolder(target: string): Promise<void> {
  const holder = startLockChild(runtimeName(), ["hold", target]);
  await holder.waitFor((l) => l === "held");
  holder.kill("SIGKILL");
  await holder.ended;
}

/** A pid that is certainly not running: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = startLockChild(runtimeName(), [
    "count",
    "/nonexistent/x",
    "0",
    "async",
  ]);
  await child.ended;
  return child.pid;
}

test("lockFile() creates the lock file beside the target and release() removes it", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "data.json");
    const lock = await lockFile(target);
    assert.equal(lock.path, target);
    assert.equal(lock.lockPath, path.join(dir, ".data.json.atomic-lock"));
    assert.match(read(lock.lockPath), /^\{"lock":"@x\/atomic"/);
    assert.equal(lock.signal.aborted, false);
    await lock.release();
    await lock.release(); // again: nothing
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("FileLock.release() called again while the first is under way resolves once the lock's files are gone", async () => {
  await withTempDir(async (dir) => {
    const lock = await lockFile(path.join(dir, "data.json"));
    const first = lock.release();
    const second = lock.release();
    assert.equal(second, first);
    await second;
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() keeps no descriptor of its own file while held, and its heartbeat renews the lock through the holder's own name", async (t) => {
  if (!fs.existsSync("/proc/self/fd")) {
    return skipTest(t, "no /proc/self/fd to list the open files");
  }
  await withTempDir(async (dir) => {
    // Taken at once, as a bulk update takes them: they share one
    // descriptor, their directory's, and hold none of their own files.
    const locks = await Promise.all(
      Array.from(
        { length: 20 },
        (_, i) => lockFile(path.join(dir, `f${i}`), { lease: 1_000 }),
      ),
    );
    const open = fs.readdirSync("/proc/self/fd").map((fd) => {
      try {
        return fs.readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return ""; // the listing's own descriptor, closed by now
      }
    });
    assert.deepEqual(open.filter((file) => file.startsWith(`${dir}/`)), []);
    const made = fs.statSync(locks[0].lockPath).mtimeMs;
    await new Promise((resolve) => setTimeout(resolve, 600)); // 3 beats
    assert.ok(fs.statSync(locks[0].lockPath).mtimeMs > made);
    await Promise.all(locks.map((lock) => lock.release()));
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() gives the lock file a second name that names its holder, and release() removes both", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "data.json");
    const lock = await lockFile(target);
    const names = fs.readdirSync(dir).filter((n) =>
      n !== ".data.json.atomic-lock"
    );
    assert.equal(names.length, 1);
    // The same file under a temporary name of this thread's.
    assert.equal(
      fs.statSync(path.join(dir, names[0])).ino,
      fs.statSync(lock.lockPath).ino,
    );
    assert.equal(tempNameOwner(names[0])?.pid, process.pid);
    assert.equal(JSON.parse(read(lock.lockPath)).file, names[0]);
    await lock.release();
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

// How link(2) fails where the file system has no hard links.
for (
  const [code, where] of [
    ["EPERM", "the file system has no hard links (FAT)"],
    [
      "EACCES",
      "link fails with EACCES, as sshfs reports a server's file system without hard links",
    ],
    // Windows' ERROR_INVALID_FUNCTION from CreateHardLinkW, as libuv maps it.
    ["EISDIR", "link fails with EISDIR, as libuv reports Windows' exFAT"],
  ] as const
) {
  test(`lockFile() makes the lock file under its own name where ${where}`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "data.json");
      const adapter = faultAdapter([{ op: "link", code }]);
      await using(adapter, async () => {
        const lock = await lockFile(target);
        assert.deepEqual(fs.readdirSync(dir), [".data.json.atomic-lock"]);
        assert.equal(JSON.parse(read(lock.lockPath)).file, undefined);
        await lock.release();
      });
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}

// sshfs reports a name another client made just before as EPERM, to link
// and to an O_EXCL create alike: the kernel did not know it yet, and SFTP
// has one code for both.
const TAKEN_AS_EPERM: Fault[] = [
  {
    op: "link",
    code: "EPERM",
    where: (args) => fs.existsSync(args[1] as string),
  },
  {
    op: "createExclusive",
    code: "EPERM",
    where: (args) => fs.existsSync(args[0] as string),
  },
];

for (
  const [name, take] of [
    ["lockFile()", (file: string) => lockFile(file, { timeout: 300 })],
    [
      "lockFileSync()",
      (file: string) =>
        new Promise<FileLock>((resolve) =>
          resolve(lockFileSync(file, { timeout: 300 }))
        ),
    ],
  ] as const
) {
  test(`${name} waits for a live holder's lock, and times out, where the file system says EPERM for its taken name (sshfs)`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "data.json");
      const lock = writeFakeLock(target, {}); // this live process's
      await using(faultAdapter(TAKEN_AS_EPERM), async () => {
        await failsWith(take(target), "ETIMEDOUT");
      });
      assert.deepEqual(fs.readdirSync(dir), [path.basename(lock)]);
    });
  });
}

/** Each way to take a file's lock, as a promise that settles as the call does. */
const TAKES = [
  ["lockFile()", (file: string) => lockFile(file)],
  [
    "lockFileSync()",
    (file: string) => Promise.resolve().then(() => lockFileSync(file)),
  ],
  ["updateFileAtomic()", (file: string) => updateFileAtomic(file, () => "new")],
] as const;

// What the runtime's permissions can forbid alone: Deno with --deny-read on
// the lock file, or --allow-read for the target only (Node's
// --allow-fs-read likewise). The holder could not see that its lock is its
// own, and would leave it behind as lost.
for (
  const [name, take] of [
    ...TAKES,
    [
      "updateFileAtomicSync()",
      (file: string) =>
        new Promise((resolve) =>
          resolve(updateFileAtomicSync(file, () => "new"))
        ),
    ],
  ] as const
) {
  test(`${name} rejects with EACCES naming the flag, and makes no file, where the runtime's permissions forbid reading its lock file`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "data.json");
      fs.writeFileSync(target, "old");
      const adapter = faultAdapter([], {
        checkAccess: (where, access) => {
          if (access === "read" && where.endsWith(".atomic-lock")) {
            throw Object.assign(
              new Error("run again with the --allow-read flag"),
              {
                name: "NotCapable",
              },
            );
          }
        },
      });
      await using(adapter, async () => {
        const error = await failsWith(take(target), "EACCES");
        assert.match(error.message, /look at lock.*--allow-read/);
      });
      assert.equal(read(target), "old");
      assert.deepEqual(fs.readdirSync(dir), ["data.json"]);
    });
  });
}

test("lockFile() resumes a short write of its record", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "data.json");
    // 10 bytes, then the rest: as a signal or a nearly full disk cuts a write.
    const adapter = faultAdapter([
      { op: "write", code: "EIO", shortWrite: 10, times: 1 },
    ]);
    await using(adapter, async () => {
      const lock = await lockFile(target);
      assert.equal(
        parseRecord(fs.readFileSync(lock.lockPath))?.pid,
        process.pid,
      );
      await lock.release();
    });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() rejects with the code of the write that failed after a short write of its record, and leaves nothing", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "data.json");
    // RLIMIT_FSIZE: the write that reaches the limit is short, the next EFBIG.
    const adapter = faultAdapter([
      { op: "write", code: "EFBIG", shortWrite: 10 },
    ]);
    await using(adapter, async () => {
      const error = await failsWith(lockFile(target), "EFBIG");
      assert.equal(error.operation, "write lock");
    });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

/**
 * Counts the closes the adapter is asked to make of each open file; the
 * returned function says how many files were closed more than once (a
 * second close of a descriptor's number may close another file by then).
 */
function countCloses(adapter: FaultAdapter): () => number {
  const closes = new Map<unknown, number>();
  const count = (file: unknown) =>
    closes.set(file, (closes.get(file) ?? 0) + 1);
  const { sync, async } = adapter;
  const [closeSync, closeAsync] = [sync.close, async.close];
  sync.close = (file) => (count(file), closeSync(file));
  async.close = (file) => (count(file), closeAsync(file));
  return () => [...closes.values()].filter((n) => n > 1).length;
}

for (const [name, take] of TAKES) {
  for (
    const [fault, why] of [
      [
        { op: "write", code: "ENOSPC" },
        "its record cannot be written (a full disk)",
      ],
      [{ op: "link", code: "EIO" }, "its link fails (an I/O error)"],
    ] as const
  ) {
    test(`${name} closes its own file once when ${why}`, async () => {
      await withTempDir(async (dir) => {
        const target = path.join(dir, "data.json");
        const adapter = faultAdapter([fault]);
        const twice = countCloses(adapter);
        await using(adapter, async () => {
          await failsWith(take(target), fault.code);
        });
        assert.equal(twice(), 0);
        assert.deepEqual(fs.readdirSync(dir), []);
      });
    });
  }
}

test("lockFile() names the reclaim when taking over a dead holder's lock fails (a full disk)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "data.json");
    const lock = writeFakeLock(target, { pid: DEAD_PID }, 60_000);
    const adapter = faultAdapter([{
      op: "createExclusive",
      code: "ENOSPC",
      where: (args) => String(args[0]).endsWith(".atomic-reclaim"),
    }]);
    await using(adapter, async () => {
      const error = await failsWith(lockFile(target), "ENOSPC");
      assert.equal(error.operation, "reclaim lock");
    });
    assert.deepEqual(fs.readdirSync(dir), [path.basename(lock)]);
  });
});

test("lockFile() that times out leaves no file of its own behind", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lock = await lockFile(target);
    try {
      const before = fs.readdirSync(dir).sort();
      await failsWith(lockFile(target, { timeout: 30 }), "ETIMEDOUT");
      assert.deepEqual(fs.readdirSync(dir).sort(), before);
    } finally {
      await lock.release();
    }
  });
});

test("two spellings of one name on a case-insensitive file system get one lock name, even where one is longer than the other", () => {
  // Each pair is one file on exFAT or NTFS (the last two on APFS too), one
  // spelling a byte or more longer, around the length where names are hashed.
  for (const pad of [200, 219, 220, 221, 222, 240]) {
    const tail = "x".repeat(pad);
    for (
      const [one, other] of [
        ["\u023A", "\u2C65"], // Ⱥ (2 bytes), ⱥ (3)
        ["K", "\u212A"], // K (1), the Kelvin sign (3)
        ["\u00E9", "e\u0301"], // é composed (2), decomposed (3)
      ]
    ) {
      assert.equal(
        lockName(other + tail),
        lockName(one + tail),
        `${JSON.stringify(one)} with ${pad} more`,
      );
      assert.ok(new TextEncoder().encode(lockName(other + tail)).length <= 255);
    }
  }
});

test("lockFile() gives two long names that differ only in case one lock, as a case-insensitive file system takes them for one file", async () => {
  await withTempDir(async (dir) => {
    // Over 222 bytes: the lock name is cut and hashed (`_lock_name.ts`).
    const tail = "x".repeat(230);
    for (const [one, other] of [["A", "a"], ["σ", "ς"]]) {
      const lock = await lockFile(path.join(dir, one + tail));
      try {
        await failsWith(
          lockFile(path.join(dir, other + tail), { timeout: 30 }),
          "ETIMEDOUT",
        );
      } finally {
        await lock.release();
      }
    }
  });
});

test("lockFileSync() and updateFileAtomicSync() fail with EDEADLK for the held file named another way (a link to its directory, ./, /proc/self/root), and never take it from its holder", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "real", "f");
    fs.mkdirSync(path.dirname(target));
    fs.symlinkSync("real", path.join(dir, "alias"));
    const lock = await lockFile(target, { lease: 1_500 });
    try {
      const spellings = [
        path.join(dir, "alias", "f"),
        path.join(dir, "real", ".", "f"),
        ...(fs.existsSync("/proc/self/root")
          ? [path.join("/proc/self/root", target)]
          : []),
      ];
      for (const spelling of spellings) {
        const started = performance.now();
        // Without it, each waited out the holder's lease (its heartbeat
        // cannot run while the thread waits), then took the lock.
        assert.throws(
          () => lockFileSync(spelling, { lease: 1_500 }),
          (e) => e instanceof AtomicWriteError && e.code === "EDEADLK",
          spelling,
        );
        assert.throws(
          () =>
            updateFileAtomicSync(spelling, () => "stolen", { lease: 1_500 }),
          (e) => e instanceof AtomicWriteError && e.code === "EDEADLK",
          spelling,
        );
        assert.ok(performance.now() - started < 1_000, spelling);
      }
      assert.equal(fs.existsSync(target), false);
      assert.equal(lock.signal.aborted, false);
    } finally {
      await lock.release();
    }
  });
});

test("lockFileSync() and updateFileAtomicSync() take the lock of a copy of a directory made while this thread held the lock of the original, not EDEADLK", async () => {
  await withTempDir(async (dir) => {
    const [original, copy] = ["d1", "d2"].map((name) => path.join(dir, name));
    fs.mkdirSync(original);
    fs.writeFileSync(path.join(original, "f"), "x");
    const held = await lockFile(path.join(original, "f"), { lease: 1_500 });
    try {
      // As `cp -a` copies it: the lock and its record, which names the
      // holder's own name in the original, live.
      fs.cpSync(original, copy, { recursive: true });
      const record = fs.readdirSync(copy).find((n) => n.endsWith("lock"));
      assert.ok(record, JSON.stringify(fs.readdirSync(copy)));
      const started = performance.now();
      const lock = lockFileSync(path.join(copy, "f"), { timeout: 5_000 });
      lock.release();
      assert.equal(
        updateFileAtomicSync(path.join(copy, "f"), () => "y", {
          timeout: 5_000,
        }),
        "y",
      );
      assert.equal(read(path.join(copy, "f")), "y");
      assert.equal(read(path.join(original, "f")), "x");
      assert.equal(held.signal.aborted, false);
      // The copied lock's lease (1.5 s, never renewed) had to run out.
      assert.ok(performance.now() - started >= 1_000);
    } finally {
      await held.release();
    }
  });
});

test("updateFileAtomicSync() fails with EDEADLK while this thread's updateFileAtomic() has just taken the lock and still reads the file", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "0");
    // The asynchronous update's read of the locked file takes 200 ms.
    const adapter = faultAdapter([]);
    const readNow = adapter.async.readFile;
    adapter.async.readFile = async (file) => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      return await readNow(file);
    };
    await using(adapter, async () => {
      const update = updateFileAtomic(target, () => "from async", {
        lease: 1_500,
      });
      const lock = path.join(dir, ".f.atomic-lock");
      while (!fs.existsSync(lock)) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const started = performance.now();
      assert.throws(
        () => updateFileAtomicSync(target, () => "from sync", { lease: 1_500 }),
        (e) => e instanceof AtomicWriteError && e.code === "EDEADLK",
      );
      assert.ok(performance.now() - started < 1_000);
      await update;
    });
    assert.equal(read(target), "from async");
  });
});

test("lockFileSync() and updateFileAtomicSync() fail at once with EDEADLK in the thread that holds the lock, which keeps it", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lock = await lockFile(target);
    try {
      const before = fs.readdirSync(dir).sort();
      const started = performance.now();
      // Without the check, each waited out its timeout (the lease is longer).
      assert.throws(
        () => lockFileSync(target, { timeout: 2_000 }),
        (e) => e instanceof AtomicWriteError && e.code === "EDEADLK",
      );
      assert.throws(
        () => updateFileAtomicSync(target, () => "x", { timeout: 2_000 }),
        (e) => e instanceof AtomicWriteError && e.code === "EDEADLK",
      );
      assert.ok(performance.now() - started < 1_000);
      assert.deepEqual(fs.readdirSync(dir).sort(), before);
      assert.equal(lock.signal.aborted, false);
    } finally {
      await lock.release();
    }
    const sync = lockFileSync(target);
    try {
      assert.throws(
        () => lockFileSync(target, { timeout: 2_000 }),
        (e) => e instanceof AtomicWriteError && e.code === "EDEADLK",
      );
    } finally {
      sync.release();
    }
  });
});

test("lockFileSync() waits, not EDEADLK, for another's lock that has the identity (inode) of a lock this thread lost without a heartbeat seeing it", async () => {
  await withTempDir(async (dir) => {
    const adapter = faultAdapter([]);
    await using(adapter, async () => {
      const lost = lockFileSync(path.join(dir, "a"), { lease: 60_000 });
      try {
        const id = adapter.sync.lstat(lost.lockPath)!.id;
        // Taken over and its names removed while this thread ran no
        // heartbeat; the file system gives its inode to another's lock.
        for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name));
        const other = path.join(dir, "b");
        const otherLock = writeFakeLock(other, {});
        const lstat = adapter.sync.lstat;
        // By name in this directory (the library names it through its
        // descriptor of the directory): another test's lock of a file "b"
        // that this thread still holds elsewhere is not given the identity.
        const isOtherLock = (p: string) =>
          path.basename(p) === path.basename(otherLock) &&
          fs.realpathSync(path.dirname(p)) === dir;
        adapter.sync.lstat = (p) => {
          const entry = lstat(p);
          return entry && isOtherLock(p) ? { ...entry, id } : entry;
        };
        assert.throws(
          () => lockFileSync(other, { timeout: 300 }),
          (e) => e instanceof AtomicWriteError && e.code === "ETIMEDOUT",
        );
      } finally {
        await lost.release().catch(() => {});
      }
    });
  });
});

test("lockFileSync() fails with EDEADLK while this thread's lockFile() has linked its lock but not yet seen the link end", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    // The link is made at once, and reported 200 ms later: as one whose end
    // waits in the event loop, which the synchronous wait would block.
    const adapter = faultAdapter([]);
    const linkNow = adapter.sync.link;
    adapter.async.link = (from, to) => {
      linkNow(from, to);
      return new Promise((resolve) => setTimeout(resolve, 200));
    };
    await using(adapter, async () => {
      const taking = lockFile(target);
      const lockPath = path.join(dir, ".f.atomic-lock");
      while (!fs.existsSync(lockPath)) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      assert.throws(
        () => lockFileSync(target, { timeout: 2_000 }),
        (e) => e instanceof AtomicWriteError && e.code === "EDEADLK",
      );
      await (await taking).release();
    });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFileSync() waits for this thread's release() under way, not failing with EDEADLK", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    // The release's removal of the lock's name is made by another process,
    // a few ms late: as the runtime's thread pool makes it, without this
    // thread, which the synchronous wait blocks meanwhile.
    const adapter = faultAdapter([]);
    const removeNow = adapter.async.remove;
    adapter.async.remove = (file) => {
      if (!file.endsWith(".f.atomic-lock")) return removeNow(file);
      // Named through the directory held open: /proc/self/fd/N/… here.
      const named = file.replace(/^\/proc\/self\//, `/proc/${process.pid}/`);
      const rm = spawn("rm", [named], { stdio: "ignore" });
      return new Promise((resolve) => rm.on("close", () => resolve()));
    };
    await using(adapter, async () => {
      const lock = await lockFile(target);
      const releasing = lock.release(); // not awaited yet
      const sync = lockFileSync(target, { timeout: 5_000 });
      sync.releaseSync();
      await releasing;
    });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() with an aborted signal rejects with its reason and leaves no file behind", async () => {
  await withTempDir(async (dir) => {
    const reason = new Error("not now");
    await assert.rejects(
      lockFile(path.join(dir, "f"), { signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
    );
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

// An aborted signal is its reason, whatever else is wrong: the
// synchronous forms too, as their asynchronous ones and every write.
for (
  const [what, call] of [
    [
      "lockFileSync()",
      (p: string, signal: AbortSignal) => lockFileSync(p, { signal }),
    ],
    [
      "updateFileAtomicSync()",
      (p: string, signal: AbortSignal) =>
        updateFileAtomicSync(p, () => "x", { signal }),
    ],
  ] as const
) {
  test(`${what} with an aborted signal throws its reason for a file in a missing directory`, async () => {
    await withTempDir((dir) => {
      const reason = new Error("not now");
      const target = path.join(dir, "missing", "f");
      assert.throws(
        () => call(target, AbortSignal.abort(reason)),
        (e) => e === reason,
      );
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${what} with an aborted signal throws its reason for a file whose lock this thread holds`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      const held = await lockFile(target);
      try {
        const reason = new Error("not now");
        assert.throws(
          () => call(target, AbortSignal.abort(reason)),
          (e) => e === reason,
        );
      } finally {
        await held.release();
      }
    });
  });
}

test("lockFile() that waited longer than its heartbeat takes the lock with a fresh heartbeat", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lease = 3_000; // heartbeat every 600 ms
    const first = await lockFile(target, { lease });
    setTimeout(() => void first.release(), 2_000);
    const second = await lockFile(target, { lease });
    try {
      // Its file was made 2 s ago, when it began to wait.
      const age = Date.now() - fs.statSync(second.lockPath).mtimeMs;
      assert.ok(age < 1_400, `the lock was born ${age} ms old`);
    } finally {
      await second.release();
    }
  });
});

test("lockFile() calls of one file in one process take the lock in call order, and only the first waits on the file system", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const adapter = faultAdapter([]);
    await using(adapter, async () => {
      // Held as another process would hold it: not through this process's
      // queue of asynchronous waiters.
      const first = lockFileSync(target);
      const since = adapter.calls.length;
      const order: number[] = [];
      const waits = [1, 2, 3, 4].map((i) =>
        lockFile(target).then(async (lock) => {
          order.push(i);
          await lock.release();
        })
      );
      // The first waiter has tried to link its own file to the lock; the
      // others, if they wait on the file system, made theirs and tried too.
      const tries = () =>
        adapter.calls.slice(since).filter((c) => c.startsWith("link:"));
      while (tries().length === 0) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 100));
      const tried = new Set(
        adapter.calls.slice(since).filter((c) => c.startsWith("link:")),
      );
      assert.equal(tried.size, 1, [...tried].join(", "));
      first.releaseSync();
      await Promise.all(waits);
      assert.deepEqual(order, [1, 2, 3, 4]);
    });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

const DAYS = 24 * 60 * 60 * 1000;

test("lockFile() queued behind another lock of the same file in this process waits out a 30-day timeout", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const first = await lockFile(target);
    let settled = "pending";
    const second = lockFile(target, { timeout: 30 * DAYS }).then(
      (lock) => (settled = "locked", lock),
      (error) => {
        settled = `rejected: ${error}`;
        throw error;
      },
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(settled, "pending");
    await first.release();
    await (await second).release();
    assert.equal(settled, "locked");
  });
});

test("lockFile() with a lease longer than a timer can take beats its heart no more often than a timer allows", async () => {
  await withTempDir(async (dir) => {
    const asked: number[] = [];
    const real = faultAdapter([]);
    const adapter = faultAdapter([], {
      repeat: (tick, ms) => (asked.push(ms), real.repeat(tick, ms)),
    });
    await using(adapter, async () => {
      const lock = await lockFile(path.join(dir, "f"), { lease: 365 * DAYS });
      await lock.release();
    });
    assert.deepEqual(asked, [2 ** 31 - 1]);
  });
});

test("lockFile() polls instead of watching once the lock file cannot be watched", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    let watches = 0;
    const adapter = faultAdapter([], {
      watchFile: (_path, ms) => {
        watches++;
        return {
          done: new Promise((r) => setTimeout(() => r("unwatched"), ms)),
          close: () => {},
        };
      },
    });
    await using(adapter, async () => {
      const first = lockFileSync(target); // not through this process's queue
      const second = lockFile(target);
      await new Promise((r) => setTimeout(r, 100));
      first.releaseSync();
      await (await second).release();
    });
    assert.equal(watches, 1);
    assert.ok(adapter.sleeps.length > 0);
  });
});

test("lockFileSync() is released by a using block", async () => {
  await withTempDir((dir) => {
    const target = path.join(dir, "data.json");
    const lock = lockFileSync(target);
    assert.ok(fs.existsSync(lock.lockPath));
    lock[Symbol.dispose]();
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() waits until the holder releases", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const first = await lockFile(target);
    const order: string[] = [];
    const second = lockFile(target).then((lock) => {
      order.push("second");
      return lock;
    });
    await new Promise((r) => setTimeout(r, 50));
    order.push("release");
    await first.release();
    await (await second)[Symbol.asyncDispose]();
    assert.deepEqual(order, ["release", "second"]);
  });
});

test(
  "lockFile() takes over at once a lock whose holder was killed",
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      await killedHolder(target);
      assert.ok(
        fs.existsSync(lockPathOf(target)),
        "kill -9 leaves the lock file",
      );
      const lock = await lockFile(target, PROMPTLY);
      await lock.release();
    });
  },
);

test(
  "lockFile() takes over at once the lock of a killed holder whose record was lost",
  { ...SLOW, skip: cannotNameThreads },
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      await killedHolder(target);
      fs.truncateSync(lockPathOf(target), 0); // as a power cut leaves it
      // Without a record, the waiter assumes its own lease for the lock.
      const lock = await lockFile(target, { ...PROMPTLY, lease: LONG_LEASE });
      await lock.release();
      // The dead holder's second name went with its lock.
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  },
);

test(
  "lockFile() takes over at once a lock whose holder was killed but not yet reaped",
  {
    ...SLOW,
    skip: fs.existsSync("/proc/self/stat") ? false : "needs Linux /proc",
  },
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      // `sleep 60 &` is started by a shell that then becomes a `sleep` that
      // never reaps it: killed, it stays a zombie.
      const shell = spawn("sh", ["-c", "sleep 60 & echo $!; exec sleep 60"], {
        stdio: ["ignore", "pipe", "ignore"],
      });
      try {
        const pid = Number(
          await new Promise<string>((resolve) =>
            shell.stdout.once("data", (chunk) => resolve(String(chunk)))
          ),
        );
        const start = fs.readFileSync(`/proc/${pid}/stat`, "latin1")
          .split(") ")[1].split(" ")[19];
        writeFakeLock(target, { pid, start, lease: LONG_LEASE });
        // Until the shell has become `sleep`, it may still reap its child.
        while (
          fs.readFileSync(`/proc/${shell.pid}/comm`, "latin1") !== "sleep\n"
        ) {
          await new Promise((r) => setTimeout(r, 5));
        }
        process.kill(pid, "SIGKILL");
        while (
          !/\) [ZX]/.test(fs.readFileSync(`/proc/${pid}/stat`, "latin1"))
        ) {
          await new Promise((r) => setTimeout(r, 5));
        }
        const lock = await lockFile(target, PROMPTLY);
        await lock.release();
      } finally {
        shell.kill("SIGKILL");
      }
    });
  },
);

test("lockFile() takes over a lock whose pid now belongs to another process", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    // Our own pid is alive, but was not started at this time.
    writeFakeLock(target, { pid: process.pid, start: "1", lease: LONG_LEASE });
    const lock = await lockFile(target, PROMPTLY);
    await lock.release();
  });
});

test("lockFile() takes over a lock taken before the last boot", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    writeLockBeforeBoot(target, {
      boot: "00000000-0000-0000-0000-000000000000",
    });
    const lock = await lockFile(target, PROMPTLY);
    await lock.release();
  });
});

test("lockFile() waits that give up behind a lock of this thread leave its line at once", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const held = await lockFile(target);
    for (let i = 0; i < 50; i++) {
      await failsWith(lockFile(target, { timeout: 0 }), "ETIMEDOUT");
      const aborted = new AbortController();
      const waiting = lockFile(target, { signal: aborted.signal });
      aborted.abort();
      await assert.rejects(waiting);
    }
    assert.equal(inLine(target), 1); // the holder alone
    await held.release();
    assert.equal(inLine(target), 0);
  });
});

test("lockFile() behind a lock of this thread keeps the process alive until its signal aborts it", async () => {
  await withTempDir((dir) => {
    const says = lockChildSays(["behind-self", path.join(dir, "f")], "late");
    assert.equal(says, "TimeoutError\nreleased");
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() behind a lock of this thread that its signal aborts keeps nothing alive until its timeout", async () => {
  await withTempDir((dir) => {
    // A timeout past the 30 s the child may take: kept alive until then,
    // it would be late.
    const says = lockChildSays(
      ["behind-self", path.join(dir, "f"), "60000"],
      "late",
    );
    assert.equal(says, "TimeoutError\nreleased");
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() waits for a live holder within its lease", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const fake = writeFakeLock(target, { lease: LONG_LEASE }); // us, another token
    await assert.rejects(
      lockFile(target, { timeout: 100 }),
      (e) => e instanceof AtomicWriteError && e.code === "ETIMEDOUT",
    );
    assert.ok(fs.existsSync(fake));
  });
});

test("lockFile() takes over the expired lease of a holder on another host", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    writeFakeLock(target, { host: "elsewhere", lease: 1_000 }, 5_000);
    const lock = await lockFile(target, PROMPTLY);
    await lock.release();
    writeFakeLock(target, { host: "elsewhere", lease: LONG_LEASE }, 5_000);
    await assert.rejects(
      lockFile(target, { timeout: 100 }),
      (e) => e instanceof AtomicWriteError && e.code === "ETIMEDOUT",
    );
  });
});

test("lockFile() counts when the holder made its lock, by the holder's clock, as a heartbeat: a lock the file system stamped a lease ago is kept", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    // As a file server whose clock lags the holders' by 5 s stamps a new
    // lock file, before its holder's first heartbeat.
    const lock = writeFakeLock(
      target,
      { host: "elsewhere", lease: 1_000, at: Date.now() },
      5_000,
    );
    await failsWith(lockFile(target, { timeout: 100 }), "ETIMEDOUT");
    assert.ok(fs.existsSync(lock));
    // Made a lease ago by the holder's clock too: taken over.
    writeFakeLock(
      target,
      { host: "elsewhere", lease: 1_000, at: Date.now() - 5_000 },
      5_000,
    );
    const taken = await lockFile(target, PROMPTLY);
    await taken.release();
  });
});

test("lockFile() does not count a record's time more than a lease ahead of its clock: a dead holder whose clock was set back since loses its lock a lease after its last heartbeat", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lease = 10_000;
    // Made by a clock half a lease ahead of this one: still the lock's first
    // heartbeat, as far as this process can tell.
    const kept = writeFakeLock(
      target,
      { host: "elsewhere", lease, at: Date.now() + lease / 2 },
      2 * lease,
    );
    await failsWith(lockFile(target, { timeout: 100 }), "ETIMEDOUT");
    assert.ok(fs.existsSync(kept));
    // Made by a clock an hour ahead, set back since (its heartbeats, the
    // file's time, are right): the last heartbeat was two leases ago.
    writeFakeLock(
      target,
      { host: "elsewhere", lease, at: Date.now() + 3_600_000 },
      2 * lease,
    );
    const taken = await lockFile(target, { timeout: 5_000 });
    await taken.release();
  });
});

test("lockFile() takes over a lock touched before the last boot whose record's time is more than a lease ahead (the last boot's clock ran ahead)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lease = 600_000;
    // Last touched two minutes ago, a minute before this machine booted,
    // by a clock right by then; made by it while it ran an hour ahead.
    writeFakeLock(target, {
      boot: "00000000-0000-0000-0000-000000000000",
      lease,
      at: Date.now() + 3_600_000,
    }, 120_000);
    const booted = Date.now() - 60_000;
    await using(faultAdapter([], { bootTime: () => booted }), async () => {
      const taken = await lockFile(target, { timeout: 5_000 });
      await taken.release();
    });
  });
});

test("lockFile() records when it made its lock, so another process does not take over a live lock whose file time lags", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const before = Date.now();
    const lock = await lockFile(target, { lease: 60_000 });
    try {
      const at = parseRecord(fs.readFileSync(lock.lockPath))?.at;
      assert.ok(
        at !== undefined && at >= before && at <= Date.now(),
        `at: ${at}`,
      );
      backdate(lock.lockPath, 3_600_000); // as a lagging file server stamps it
      assert.equal(
        lockChildSays(["try", target, "async"], "late"),
        "ETIMEDOUT",
      );
      assert.ok(!lock.signal.aborted);
    } finally {
      await lock.release();
    }
  });
});

/**
 * Waits until the clock is `ms` to 500 ms into a second, then resolves to
 * the start of the second before, in ms: a time as a file system that keeps
 * whole seconds records a heartbeat made then.
 */
async function lastSecondFrom(ms: number): Promise<number> {
  while (Date.now() % 1000 < ms || Date.now() % 1000 >= 500) {
    await new Promise((r) => setTimeout(r, 10));
  }
  return (Math.floor(Date.now() / 1000) - 1) * 1000;
}

test("lockFile() allows for whole-second modification times (exFAT, sshfs): a holder on another host that beat within its lease keeps the lock", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    // A heartbeat made in this second, recorded as the second before (the
    // file system cut it down): 1.05 to 1.5 s ago by the record, with a
    // 1 s lease.
    const beat = await lastSecondFrom(50);
    const lock = writeFakeLock(target, { host: "elsewhere", lease: 1000 });
    fs.utimesSync(lock, beat / 1000, beat / 1000);
    await failsWith(lockFile(target, { timeout: 0, lease: 1000 }), "ETIMEDOUT");
    assert.ok(fs.existsSync(lock));
  });
});

test("lockFile() allows for whole-second modification times when the record's time is later: a holder whose lease is shorter than the step keeps the lock while it beats", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    // The lock made 300 ms into a second, beaten since in the same second,
    // which the file system records as the second's start (before the
    // record's time); now 1.1 to 1.5 s later, past the 800 ms lease counted
    // from the record's time but not from the heartbeat.
    const second = await lastSecondFrom(100);
    const lock = writeFakeLock(target, {
      host: "elsewhere",
      lease: 800,
      at: second + 300,
    });
    fs.utimesSync(lock, second / 1000, second / 1000);
    await failsWith(lockFile(target, { timeout: 0 }), "ETIMEDOUT");
    assert.ok(fs.existsSync(lock));
  });
});

test("lockFile() takes over a lock of a dead process", SLOW, async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    writeFakeLock(target, { pid: await deadPid(), lease: LONG_LEASE });
    const lock = await lockFile(target, PROMPTLY);
    await lock.release();
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() locks the file a relative link reached through a linked directory leads to", async () => {
  await withTempDir(async (dir) => {
    const { real, alias } = linkedTree(dir);
    const lock = await lockFile(path.join(alias, "link"));
    try {
      // The same file, however the path is spelled.
      assert.equal(
        fs.statSync(lock.lockPath).ino,
        fs.statSync(lockPathOf(real)).ino,
      );
      assert.deepEqual(locksUnder(dir), [
        path.relative(dir, lockPathOf(real)),
      ]);
    } finally {
      await lock.release();
    }
  });
});

test(
  "lockFile() and lockFileSync() refuse a link another user planted in a sticky directory and make no lock file",
  {
    skip: notRoot,
  },
  async () => {
    await withTempDir(async (dir) => {
      const { link } = plantedSecretLink(dir);
      await refusesPlantedLink(() => lockFile(link));
      await refusesPlantedLink(() =>
        Promise.resolve().then(() => lockFileSync(link))
      );
      assert.deepEqual(locksUnder(dir), []);
    });
  },
);

test("lockFile() and lockFileSync() reject with EISDIR for a directory and make no lock file", async () => {
  await withTempDir(async (dir) => {
    const sub = path.join(dir, "sub");
    fs.mkdirSync(sub);
    const error = await failsWith(lockFile(sub), "EISDIR");
    assert.match(error.message, /directory/);
    await failsWith(Promise.resolve().then(() => lockFileSync(sub)), "EISDIR");
    assert.deepEqual(fs.readdirSync(dir), ["sub"]);
  });
});

test("lockFile() rejects with ENOTSUP for a FIFO and makes no lock file", async (t) => {
  await withTempDir(async (dir) => {
    const fifo = path.join(dir, "fifo");
    const skip = mkfifo(fifo);
    if (skip !== null) return void skipTest(t, skip);
    const error = await failsWith(lockFile(fifo), "ENOTSUP");
    assert.match(error.message, /not a regular file/);
    assert.deepEqual(locksUnder(dir), []);
  });
});

test("lockFile() rejects with EEXIST and leaves a user's file that has the lock's name", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(lockPathOf(target), "my own notes\n");
    await assert.rejects(
      lockFile(target, { timeout: 0 }),
      (e) => e instanceof AtomicWriteError && e.code === "EEXIST",
    );
    assert.equal(read(lockPathOf(target)), "my own notes\n");
  });
});

test("lockFile() waits for a fresh lock whose record reads as NUL bytes (FAT through fusefat shows them while its holder writes it), as for one not yet written", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(lockPathOf(target), new Uint8Array(64));
    await failsWith(lockFile(target, { timeout: 300 }), "ETIMEDOUT");
    assert.deepEqual(locksUnder(dir), [path.basename(lockPathOf(target))]);
  });
});

test("lockFile() rejects with a TypeError or RangeError before touching any file", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    for (
      const options of [
        { timeout: -1 },
        { timeout: Number.NaN },
        { lease: 0 },
        { lease: Infinity },
        { signal: "no" },
        { mkdir: 1 },
        { mode: 0o600 }, // a write option: a lock takes none
      ]
    ) {
      await assert.rejects(
        // deno-lint-ignore no-explicit-any
        lockFile(target, options as any),
        (e) => e instanceof TypeError || e instanceof RangeError,
      );
    }
    // deno-lint-ignore no-explicit-any
    assert.throws(() => lockFileSync(42 as any), TypeError);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() creates missing parent directories with mkdir", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "a", "b", "f");
    await assert.rejects(
      lockFile(target),
      (e) => e instanceof AtomicWriteError && e.code === "ENOENT",
    );
    const lock = await lockFile(target, { mkdir: true });
    assert.ok(fs.existsSync(lock.lockPath));
    await lock.release();
  });
});

test("lockFile() aborts its signal, without throwing, when it stalls past its lease", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lock = await lockFile(target, { lease: 1_000 }); // the minimum
    Atomics.wait(cell, 0, 0, 2_000); // the event loop is blocked: no heartbeat
    // The next heartbeat (an unref'd timer) finds the lease ran out.
    while (!lock.signal.aborted) await new Promise((r) => setTimeout(r, 20));
    const reason = lock.signal.reason;
    assert.ok(
      reason instanceof AtomicWriteError && reason.code === "ELOCKLOST",
    );
    // There is no update: what ran out of time was the heartbeat.
    assert.match(reason.message, /before its heartbeat could renew it/);
    await lock.release();
    // A lost lock is retired safely and the target is free again.
    const next = await lockFile(target, PROMPTLY);
    await next.release();
  });
});

test("lockFile() of a file whose lock this thread lost (not yet released) does not wait for that release", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lost = await lockFile(target, { lease: 1_000 }); // the minimum
    Atomics.wait(cell, 0, 0, 2_000); // the event loop is blocked: no heartbeat
    while (!lost.signal.aborted) await new Promise((r) => setTimeout(r, 20));
    // This thread no longer holds it: its line moves on, as another
    // thread's or process's lockFileSync() would.
    const next = await lockFile(target, PROMPTLY);
    await next.release();
    await lost.release();
  });
});

test(
  "lockFile() names its thread in the reclaim mutex's record, so a worker terminated while it reclaims is judged gone at once",
  { skip: cannotNameThreads },
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      // Stale: its pid now belongs to another process (ours).
      writeFakeLock(target, { pid: process.pid, start: "1", lease: 60_000 });
      const adapter = faultAdapter([]);
      const { rename } = adapter.async;
      const named: (TempOwner | null)[] = [];
      adapter.async.rename = async (from, to) => {
        if (to.endsWith(".atomic-reclaim")) {
          const file = parseRecord(fs.readFileSync(to))?.file;
          named.push(file === undefined ? null : tempNameOwner(file));
        }
        return await rename(from, to);
      };
      const lock = await using(adapter, () => lockFile(target, PROMPTLY));
      await lock.release();
      const me = tempNameOwner(tempName("f", detectAdapter().writer()));
      assert.deepEqual(named, [me]);
    });
  },
);

test("FileLock.release() ends the lease of a lock file it cannot remove, so the next lock is taken at once", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lock = lockPathOf(target);
    const adapter = faultAdapter([
      // By name: root names it through its directory held open.
      {
        op: "remove",
        code: "EIO",
        times: 1,
        where: (a) => path.basename(a[0] as string) === path.basename(lock),
      },
    ]);
    await using(adapter, async () => {
      const first = await lockFile(target);
      await first.release(); // resolves: release never rejects
    });
    assert.ok(fs.existsSync(lock), "the lock file stayed");
    const started = performance.now();
    // Its lease (10 s) would otherwise have to run out first.
    const next = await lockFile(target, { timeout: 5_000 });
    assert.ok(performance.now() - started < 5_000);
    await next.release();
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() fails with ENOENT, not EIO, when its lock file is gone as soon as it is made (its directory removed)", async () => {
  await withTempDir(async (dir) => {
    const adapter = faultAdapter([]);
    const { lstat } = adapter.async;
    // The look right after the exclusive create finds nothing.
    adapter.async.lstat = (at) =>
      at.includes(".atomic-lock.") ? Promise.resolve(null) : lstat(at);
    const error = await using(
      adapter,
      () => failsWith(lockFile(path.join(dir, "f")), "ENOENT"),
    );
    assert.equal(error.operation, "stat lock");
    assert.match(error.message, /removed as soon as it was made/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFile() released while a heartbeat looks at it does not abort its signal", async () => {
  await withTempDir(async (dir) => {
    const lock = await lockFile(path.join(dir, "f")) as HeldLock;
    // A heartbeat whose look at the lock file takes 50 ms.
    const adapter = faultAdapter([]);
    const { lstat } = adapter.async;
    let looking = () => {};
    const looked = new Promise<void>((resolve) => looking = resolve);
    adapter.async.lstat = async (at) => {
      looking();
      await new Promise((resolve) => setTimeout(resolve, 50));
      return await lstat(at);
    };
    const beat = runAsync(heartbeat(lock.held), adapter.async);
    await looked;

    await lock.release();
    await beat;

    assert.equal(lock.signal.aborted, false);
  });
});

test("lockFile() keeps a lock whose holder heartbeats past two leases", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lock = await lockFile(target, { lease: 1_500 });
    await new Promise((r) => setTimeout(r, 3_200));
    assert.equal(lock.signal.aborted, false);
    await assert.rejects(lockFile(target, { timeout: 0 }), /ETIMEDOUT/);
    await lock.release();
  });
});

test(
  "lockFile() gives a stale lock to exactly one of 20 contenders at once",
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      const marker = path.join(dir, "inside");
      const go = path.join(dir, "go");
      writeFakeLock(target, { pid: await deadPid(), lease: LONG_LEASE });
      const contenders = Array.from(
        { length: 20 },
        () => startLockChild(runtimeName(), ["race", target, marker, go]),
      );
      await new Promise((r) => setTimeout(r, 1_500)); // most have started
      fs.writeFileSync(go, "");
      const ends = await Promise.all(contenders.map((c) => c.ended));
      const lines = contenders.flatMap((c) => c.lines);
      assert.deepEqual(ends.map((e) => e.code), Array(20).fill(0));
      assert.equal(
        lines.filter((l) => l === "overlap").length,
        0,
        "never two holders",
      );
      assert.equal(lines.filter((l) => l === "done").length, 20);
      assert.deepEqual(fs.readdirSync(dir), ["go"]);
    });
  },
);

for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  test(
    `lockFile() takes over at once the lock of a process ${signal} ended`,
    SLOW,
    async () => {
      await withTempDir(async (dir) => {
        const target = path.join(dir, "f");
        // The library listens to no signal: the lock stays, its holder is dead.
        const holder = startLockChild(runtimeName(), [
          "hold",
          target,
          String(LONG_LEASE),
        ]);
        await holder.waitFor((l) => l === "held");
        holder.kill(signal);
        assert.equal((await holder.ended).signal, signal);
        const lock = await lockFile(target, PROMPTLY);
        await lock.release();
        assert.deepEqual(fs.readdirSync(dir), []);
      });
    },
  );
}

/**
 * Runs `_lock_child.ts MODE TARGET ARGS…` for the file `f` in `dir` on this
 * runtime, `runs` times; each run exits 0 and leaves `dir` empty.
 */
async function exitsLeavingNothing(
  dir: string,
  [mode, ...args]: string[],
  runs = 1,
): Promise<void> {
  for (let run = 0; run < runs; run++) {
    const child = startLockChild(runtimeName(), [
      mode,
      path.join(dir, "f"),
      ...args,
    ]);
    assert.equal((await child.ended).code, 0, child.stderr());
    assert.deepEqual(fs.readdirSync(dir), [], `run ${run}`);
  }
}

test("lockFile() locks are released when the process exits", SLOW, async () => {
  await withTempDir((dir) => exitsLeavingNothing(dir, ["exit"]));
});

test(
  "lockFile() leaves nothing when the process exits while the lock's release is under way",
  SLOW,
  async () => {
    await withTempDir((dir) => exitsLeavingNothing(dir, ["exit-releasing"], 3));
  },
);

test(
  "lockFile() leaves no lock when the process exits while its link is still under way, made but not yet seen",
  SLOW,
  async () => {
    await withTempDir((dir) => exitsLeavingNothing(dir, ["exit-linking"]));
  },
);

for (const how of ["exit", "throw", "end"]) {
  const ending = {
    exit: "calls process.exit()",
    throw: "dies of an uncaught exception",
    end: "reaches its end with lockFileSync()'s lock",
  }[how];
  test(
    `a holder that stalled past its lease and then ${ending} leaves the lock of the process that took it over`,
    SLOW,
    async () => {
      await withTempDir(async (dir) => {
        const target = path.join(dir, "f");
        const stalled = startLockChild(runtimeName(), [
          "stall-exit",
          target,
          "1000",
          "5000",
          how,
        ]);
        await stalled.waitFor((line) => line === "held");
        // Taken over once the stalled holder's lease (1 s) is out, while it
        // is still stalled (5 s): a takeover 2.5 s after "held" was once too
        // late for a loaded CI run on Node 22.
        const lock = await lockFile(target, { timeout: 4_500 });
        try {
          await stalled.ended;
          assert.ok(fs.existsSync(lock.lockPath), "the lock was removed");
          assert.equal(lock.signal.aborted, false);
          await failsWith(lockFile(target, { timeout: 0 }), "ETIMEDOUT");
        } finally {
          await lock.release();
        }
        assert.deepEqual(fs.readdirSync(dir), []);
      });
    },
  );
}

test(
  "a holder that stalled past its lease and then exits releases its lock if nobody took it over",
  SLOW,
  async () => {
    await withTempDir((dir) =>
      exitsLeavingNothing(dir, ["stall-exit", "1000", "1500", "exit"])
    );
  },
);

test("lockFile() fails with ETIMEDOUT in time behind a dead holder's lock that a live process is reclaiming", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lock = writeFakeLock(target, { pid: DEAD_PID });
    // A live reclaimer (this process) holds the reclaim mutex of that lock,
    // for a long lease: the waiter can neither take the lock over nor wait
    // that lease out past its timeout.
    const mutex = path.join(
      dir,
      reclaimName(path.basename(lock), "0123456789abcdef"),
    );
    fs.writeFileSync(
      mutex,
      encodeRecord({
        ...processIdentity(),
        token: "fedcba9876543210",
        lease: 600_000,
      }),
    );
    const started = performance.now();
    await failsWith(lockFile(target, { timeout: 300 }), "ETIMEDOUT");
    const took = performance.now() - started;
    assert.ok(took < 5_000, `took ${Math.round(took)} ms`);
    assert.ok(fs.existsSync(mutex));
  });
});

test(
  "FileLock.release() called again leaves the thread's later lock of the file held, and released at exit",
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      // The later lock's directory gets the first one's descriptor number,
      // and its file often the same inode: the first lock's second release
      // must not make the thread forget the later one.
      const holder = startLockChild(runtimeName(), [
        "exit-released-twice",
        target,
      ]);
      assert.equal(
        (await holder.ended).code,
        0,
        holder.stderr(),
      );
      assert.deepEqual(holder.lines, ["EDEADLK"]);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  },
);

test(
  "removeStaleTemps() sweeps the lock file of a dead holder",
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      const lock = writeFakeLock(target, { pid: await deadPid() }, 10_000);
      writeFakeLock(path.join(dir, "live"), { lease: LONG_LEASE }, 10_000);
      const removed = await removeStaleTemps(dir, { olderThan: 5_000 });
      assert.deepEqual(removed, [lock]);
      assert.deepEqual(fs.readdirSync(dir), [
        path.basename(lockPathOf(path.join(dir, "live"))),
      ]);
    });
  },
);

test(
  "removeStaleTemps() with olderThan 0 sweeps a dead holder's lock at once, even one whose time lies in the future",
  SLOW,
  async () => {
    await withTempDir(async (dir) => {
      const lock = writeFakeLock(path.join(dir, "f"), { pid: await deadPid() });
      backdate(lock, -3_600_000); // a clock set back since
      assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), [lock]);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  },
);

test("updateFileAtomic() after a lock from a previous boot proceeds without waiting for the lease", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "1");
    writeLockBeforeBoot(target, { boot: "previous-boot" });
    const started = performance.now();
    await updateFileAtomic(target, () => "2", { timeout: 5_000 });
    assert.ok(performance.now() - started < 5_000);
    assert.equal(read(target), "2");
  });
});

test(
  "updateFileAtomic() after a power cut emptied a dead holder's lock proceeds without waiting for the lease",
  { skip: cannotNameThreads },
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      fs.writeFileSync(target, "1");
      writeEmptyLock(target, goneThread); // fresh: its lease has 10 s to run
      const started = performance.now();
      await updateFileAtomic(target, () => "2", { timeout: 5_000 });
      assert.ok(performance.now() - started < 5_000);
      assert.equal(read(target), "2");
      // The lock and the dead holder's own name for it are both gone.
      assert.deepEqual(fs.readdirSync(dir), ["f"]);
    });
  },
);

test(
  "removeStaleTemps() that cannot reclaim a dead holder's emptied lock (a full disk) keeps the holder's own name for it, and the next lock takes it over at once",
  { skip: cannotNameThreads },
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      const { lock, holder } = writeEmptyLock(target, goneThread);
      backdate(lock, 1_000); // within the lease, but older than olderThan: 0
      const full = faultAdapter([{ op: "createExclusive", code: "ENOSPC" }]);
      await using(
        full,
        () => failsWith(removeStaleTemps(dir, { olderThan: 0 }), "ENOSPC"),
      );
      assert.ok(fs.existsSync(lock));
      assert.ok(fs.existsSync(holder), "the proof its holder is gone stays");
      const started = performance.now();
      await updateFileAtomic(target, () => "2", { timeout: 5_000 });
      assert.ok(performance.now() - started < 5_000);
      assert.deepEqual(fs.readdirSync(dir), ["f"]);
    });
  },
);

test(
  "removeStaleTemps() sweeps a dead holder's emptied lock and its own name for it",
  { skip: cannotNameThreads },
  async () => {
    await withTempDir(async (dir) => {
      const { lock, holder } = writeEmptyLock(
        path.join(dir, "f"),
        goneThread,
      );
      backdate(lock, 1_000); // within the lease, but older than olderThan: 0
      const removed = await removeStaleTemps(dir, { olderThan: 0 });
      assert.deepEqual(removed, [lock, holder]);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  },
);

test(
  "lockFile() and removeStaleTemps() never take over, by an assumed lease, a lock whose record is unreadable while its holder is alive",
  { skip: cannotNameThreads },
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      // As another user's owner-only lock looks to the directory's owner:
      // no record to tell its lease; its second name names a live thread.
      const { lock } = writeEmptyLock(target, detectAdapter().writer());
      backdate(lock, 60_000);
      await failsWith(
        lockFile(target, { timeout: 300, lease: 1_000 }),
        "ETIMEDOUT",
      );
      assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
      assert.ok(fs.existsSync(lock));
    });
  },
);

test("lockFile() and updateFileAtomic() say what they could not do: lock, or update, the file", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "missing", "f");
    await assert.rejects(
      lockFile(target),
      (e: Error) =>
        e.message.startsWith(`Cannot lock "${target}": create lock`),
    );
    await assert.rejects(
      updateFileAtomic(target, () => "x"),
      (e: Error) =>
        e.message.startsWith(`Cannot update "${target}": create lock`),
    );
  });
});

test("lockFile() and updateFileAtomic() say lock, or update, for a target they refuse as a write would (a directory, a link loop)", async () => {
  await withTempDir(async (dir) => {
    fs.mkdirSync(path.join(dir, "d"));
    fs.symlinkSync("b", path.join(dir, "a"));
    fs.symlinkSync("a", path.join(dir, "b"));
    for (const [name, code] of [["d", "EISDIR"], ["a", "ELOOP"]]) {
      const target = path.join(dir, name);
      await assert.rejects(
        lockFile(target),
        (e: AtomicWriteError) =>
          e.code === code && e.message.startsWith(`Cannot lock "${target}": `),
      );
      assert.throws(
        () => updateFileAtomicSync(target, () => "x"),
        (e: AtomicWriteError) =>
          e.code === code &&
          e.message.startsWith(`Cannot update "${target}": `),
      );
    }
  });
});

test("lockFileSync() looks at a lock less often the longer it waits (every 0.5 ms at first, every 10 ms at most)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    writeFakeLock(target, {}); // this very process: alive, its lease running
    // The adapter's sleeps return at once and are recorded: the slices
    // asked. The library's clock counts them alone, so that a loaded
    // machine's slow first try does not count as time waited.
    const adapter = faultAdapter([]);
    const monotonic = clocks.monotonic;
    const start = monotonic();
    clocks.monotonic = () =>
      start + adapter.sleeps.reduce((sum, ms) => sum + ms, 0);
    try {
      await using(adapter, () => {
        assert.throws(
          () => lockFileSync(target, { timeout: 400 }),
          (e: AtomicWriteError) => e.code === "ETIMEDOUT",
        );
      });
    } finally {
      clocks.monotonic = monotonic;
    }
    const slices = adapter.sleeps.filter((ms) => ms > 0);
    assert.equal(slices[0], 0.5);
    const longest = Math.max(...slices);
    assert.ok(longest >= 9 && longest <= 10, `longest slice ${longest} ms`);
  });
});

test("lockFile() makes its lock file readable by everyone whatever the umask, so that other users' waiters can judge a stalled holder", async (t) => {
  let before: number;
  try {
    before = process.umask(0o077);
  } catch {
    return skipTest(t, "this runtime cannot set the umask");
  }
  try {
    await withTempDir(async (dir) => {
      const lock = await lockFile(path.join(dir, "f"));
      try {
        assert.equal(fs.statSync(lock.lockPath).mode & 0o777, 0o644);
      } finally {
        await lock.release();
      }
    });
  } finally {
    process.umask(before);
  }
});

test("a lock whose record cannot be read gets the same token from its identity on every runtime (Node's and Bun's times have fractions of a millisecond, Deno's none)", () => {
  const seen = {
    kind: "file" as const,
    mode: 0o600,
    uid: 0,
    gid: 0,
    size: 0,
    id: "2049:131",
    links: 1,
  };
  assert.equal(
    identityToken({ ...seen, mtimeMs: 1795934182072.2534 }), // Node, Bun
    identityToken({ ...seen, mtimeMs: 1795934182072 }), // Deno
  );
});
