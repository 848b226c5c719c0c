/**
 * A lock is known by its record where the names of one file have numbers of
 * their own (sshfs numbers every name it looks up: the lock's name and the
 * holder's own name for it never share an inode number there), and where a
 * file system gives a freed inode number to the next file made (ext4, xfs:
 * a lock whose names were all removed may see the next lock made with its
 * number). The real cases mount ext4 (root only; skipped with the reason
 * otherwise).
 *
 * A holder, and a writer of a temporary file, is judged gone only on proof:
 * never from a boot id that only differs (another machine may bear the same
 * host name), a start time read in another time namespace, a /proc of
 * another PID namespace, or a process that a /proc mounted with `hidepid`
 * hides. The real cases run children in namespaces (root only; skipped with
 * the reason otherwise).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import {
  AtomicWriteError,
  lockFile,
  lockFileSync,
  removeStaleTemps,
  updateFileAtomic,
  updateFileAtomicSync,
} from "../mod.ts";
import type { EntryInfo, FileContent } from "../src/runtime/types.ts";
import {
  canDropPrivileges,
  DEAD_PID,
  failsWith,
  type FaultAdapter,
  faultAdapter,
  read,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { lockPathOf, locksUnder, writeFakeLock } from "./_lock_fixtures.ts";
import { CHILD_TEST, childCommand, type Running, start } from "./_running.ts";
import {
  cannotUnshare,
  cannotUnshareTime,
  childrenOf,
  inPidNamespaceWithoutProc,
  inTimeNamespace,
  joiningPidNamespace,
  withBootId,
  withHidingProc,
  withProcStat,
} from "./_namespaces.ts";
import { type NobodyChild, withNobody } from "./_as_nobody.ts";
import { clocks } from "../src/_clock.ts";
import { type Mount, mountImage } from "./_mounts.ts";
import { Skip, type Skippable, skipTest } from "./_skip.ts";

/** What a lock's name shows of the file at `path`, seen as `entry`. */
type Numbering = (path: string, entry: EntryInfo) => EntryInfo;

/** The real adapter, with the identity of what a lock's name leads to given by `number`. */
function numberingLocks(number: Numbering): FaultAdapter {
  const adapter = faultAdapter([]);
  const { sync, async } = adapter;
  const numbered = (p: string, entry: EntryInfo | null) =>
    entry !== null && p.endsWith(".atomic-lock") ? number(p, entry) : entry;
  const [lstat, stat] = [sync.lstat, sync.stat];
  sync.lstat = (p) => numbered(p, lstat(p));
  sync.stat = (p) => numbered(p, stat(p));
  const [lstatAsync, statAsync] = [async.lstat, async.stat];
  async.lstat = async (p) => numbered(p, await lstatAsync(p));
  async.stat = async (p) => numbered(p, await statAsync(p));
  return adapter;
}

/** The real adapter, with the lock's name numbered apart from the file's other names (sshfs). */
function numberingNames(): FaultAdapter {
  return numberingLocks((_, entry) => ({ ...entry, id: `${entry.id}:name` }));
}

const increment = (current: Uint8Array | null): string =>
  String(Number(current === null ? 0 : new TextDecoder().decode(current)) + 1);

test("updateFileAtomic() and updateFileAtomicSync() commit where a file's names are numbered apart (sshfs)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "counter");
    await using(numberingNames(), async () => {
      await updateFileAtomic(target, increment);
      updateFileAtomicSync(target, increment);
    });
    assert.equal(read(target), "2");
    assert.deepEqual(locksUnder(dir), []);
    assert.deepEqual(tempsIn(dir), []);
    assert.deepEqual(fs.readdirSync(dir), ["counter"]);
  });
});

test("updateFileAtomic() and updateFileAtomicSync() commit where a file's names are numbered apart and a look at the lock's name reads its record short for a moment (sshfs's cache)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "counter");
    const adapter = numberingNames();
    // Once the lock is held, the first two reads of its name see no bytes:
    // the size the kernel's cache kept of the file the name had before.
    let short = 0;
    const empty = (p: string) =>
      p.endsWith(".atomic-lock") && ++short % 3 !== 0;
    const [readFile, readFileAsync] = [
      adapter.sync.readFile,
      adapter.async.readFile,
    ];
    const none = (found: FileContent | null) =>
      found && { ...found, bytes: new Uint8Array(0) };
    adapter.sync.readFile = (p) => empty(p) ? none(readFile(p)) : readFile(p);
    adapter.async.readFile = async (p) =>
      empty(p) ? none(await readFileAsync(p)) : await readFileAsync(p);
    await using(adapter, async () => {
      await updateFileAtomic(target, increment, { fsync: false });
      updateFileAtomicSync(target, increment, { fsync: false });
    });
    assert.equal(read(target), "2");
    assert.ok(short >= 2, `${short} reads of the lock`);
    assert.deepEqual(fs.readdirSync(dir), ["counter"]);
  });
});

test("updateFileAtomic() and updateFileAtomicSync() link the lock's name only once its record is written, so a client that caches the name's size from the link (sshfs) reads the whole record", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "counter");
    const adapter = numberingNames();
    const { sync, async } = adapter;
    // sshfs keeps the attributes a name had when it was linked for 20 s: a
    // read of the name sees no more bytes than the file had then.
    const sizeAtLink = new Map<string, number>();
    const [link, linkAsync] = [sync.link, async.link];
    sync.link = (from, to) => {
      link(from, to);
      sizeAtLink.set(to, fs.lstatSync(from).size);
    };
    async.link = async (from, to) => {
      await linkAsync(from, to);
      sizeAtLink.set(to, fs.lstatSync(from).size);
    };
    const cached = (p: string, found: FileContent | null) =>
      found && {
        ...found,
        bytes: found.bytes.subarray(0, sizeAtLink.get(p) ?? found.bytes.length),
      };
    const [readFile, readFileAsync] = [sync.readFile, async.readFile];
    sync.readFile = (p) => cached(p, readFile(p));
    async.readFile = async (p) => cached(p, await readFileAsync(p));
    // A write slower than the link beside it, as sshfs's may be.
    const writeAsync = async.write;
    async.write = async (file, bytes) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return await writeAsync(file, bytes);
    };
    await using(adapter, async () => {
      await updateFileAtomic(target, increment, { fsync: false });
      updateFileAtomicSync(target, increment, { fsync: false });
    });
    assert.equal(read(target), "2");
    assert.ok(sizeAtLink.size > 0, "no lock was linked");
    assert.deepEqual(fs.readdirSync(dir), ["counter"]);
  });
});

test("updateFileAtomic() does not commit when the looks again at a record read short outlast its lease's margin", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "counter");
    fs.writeFileSync(target, "1");
    const adapter = numberingNames();
    let reads = 0;
    const readFileAsync = adapter.async.readFile;
    adapter.async.readFile = async (p) => {
      const found = await readFileAsync(p);
      return p.endsWith(".atomic-lock") && ++reads <= 2
        ? found && { ...found, bytes: new Uint8Array(0) }
        : found;
    };
    // Each pause before a new look takes half the lease, on the library's
    // wall clock (no heartbeat runs meanwhile: a stalled event loop's).
    let skew = 0;
    const wall = clocks.wall;
    clocks.wall = () => wall() + skew;
    const sleep = adapter.async.sleep;
    adapter.async.sleep = async (ms) => {
      skew += 500;
      return await sleep(ms);
    };
    try {
      await using(adapter, async () => {
        const error = await failsWith(
          updateFileAtomic(target, increment, { fsync: false, lease: 1000 }),
          "ELOCKLOST",
        );
        assert.match(error.message, /less than its margin/);
      });
    } finally {
      clocks.wall = wall;
    }
    assert.equal(read(target), "1");
  });
});

test("lockFile() keeps its lock past heartbeats where a file's names are numbered apart (sshfs)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "state");
    await using(numberingNames(), async () => {
      const lock = await lockFile(target, { lease: 2000 });
      // Two heartbeats (every lease / 5) at least.
      await new Promise((resolve) => setTimeout(resolve, 900));
      assert.equal(lock.signal.aborted, false);
      await lock.release();
    });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("lockFileSync() and updateFileAtomicSync() fail with EDEADLK at once where a file's names are numbered apart (sshfs) and this thread holds its lock", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    await using(numberingNames(), async () => {
      const lock = await lockFile(target, { lease: 1_500 });
      try {
        const started = performance.now();
        // Without the record, each waited out the holder's lease (its
        // heartbeat cannot run while the thread waits), then took the lock.
        const deadlock = (e: unknown) =>
          e instanceof AtomicWriteError && e.code === "EDEADLK";
        assert.throws(() => lockFileSync(target, { lease: 1_500 }), deadlock);
        assert.throws(
          () => updateFileAtomicSync(target, () => "stolen", { lease: 1_500 }),
          deadlock,
        );
        assert.ok(performance.now() - started < 1_000);
        assert.equal(lock.signal.aborted, false);
      } finally {
        await lock.release();
      }
    });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

// ------------------------------------------------ inode numbers reused

/** The token of the lock {@linkcode replaceLock} makes: another holder's. */
const OTHER_TOKEN = "fedcba9876543210";

/**
 * Removes both names of the lock of `target` this thread holds (by hand, or
 * a reclaim), then makes another live holder's lock there, as the next
 * locker would; returns the identity the held lock had, as `lstat` says.
 */
function replaceLock(target: string): string {
  const lock = lockPathOf(target);
  const { dev, ino } = fs.lstatSync(lock);
  const dir = path.dirname(target);
  for (const name of fs.readdirSync(dir)) {
    if (name.includes(".atomic-lock")) fs.rmSync(path.join(dir, name));
  }
  writeFakeLock(target, { token: OTHER_TOKEN, pid: process.pid });
  return `${dev}:${ino}`;
}

/** The token of the lock of `target`, read from its record. */
function lockToken(target: string): string {
  return JSON.parse(fs.readFileSync(lockPathOf(target), "utf8")).token;
}

/**
 * The real adapter, where the lock's name shows `reused.id` once set: a
 * file system that gave the held lock's freed inode number to the next
 * file made there.
 */
function reusingNumbers(reused: { id: string | null }): FaultAdapter {
  return numberingLocks((_, entry) =>
    reused.id === null ? entry : { ...entry, id: reused.id }
  );
}

test("updateFileAtomic() rejects with ELOCKLOST and does not commit when both names of its lock are gone and the next lock has its identity (a reused inode number)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const reused: { id: string | null } = { id: null };
    const adapter = reusingNumbers(reused);
    await using(adapter, async () => {
      await failsWith(
        updateFileAtomic(target, () => {
          const held = adapter.sync.lstat(lockPathOf(target))!.id;
          replaceLock(target);
          reused.id = held;
          return "new";
        }),
        "ELOCKLOST",
      );
    });
    assert.equal(read(target), "old");
    assert.equal(lockToken(target), OTHER_TOKEN);
  });
});

/**
 * Calls `fn` with a directory on a fresh ext4 loop mount, which gives a
 * freed inode number to the next file made; skips `t` with the reason where
 * it cannot mount one (not root, no loop devices).
 */
async function onExt4(
  t: Skippable,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    let ext4: Mount;
    try {
      ext4 = mountImage(
        "ext4",
        path.join(dir, "ext4.img"),
        path.join(dir, "mnt"),
      );
    } catch (error) {
      if (error instanceof Skip) return skipTest(t, error.message);
      throw error;
    }
    try {
      await fn(ext4.dir);
    } finally {
      ext4.close();
    }
  });
}

/** Asserts that the lock of `target` is the number `held` had: the file system reused it. */
function assertReused(target: string, held: string): void {
  const { dev, ino } = fs.lstatSync(lockPathOf(target));
  assert.equal(`${dev}:${ino}`, held, "ext4 gave the next lock another inode");
}

test("updateFileAtomic() on ext4 rejects with ELOCKLOST and does not commit when both names of its lock are gone and the next lock got its inode number", async (t) => {
  await onExt4(t, async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    await failsWith(
      updateFileAtomic(target, () => {
        assertReused(target, replaceLock(target));
        return "new";
      }),
      "ELOCKLOST",
    );
    assert.equal(read(target), "old");
    assert.equal(lockToken(target), OTHER_TOKEN);
  });
});

// ------------------------------------------------ judging a holder gone

const LONG_LEASE = 60_000;

test("lockFile() and removeStaleTemps() leave a fresh lock of a dead pid to its lease where neither its record nor this process knows the boot id (/proc/sys hidden: another machine of the same name)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lock = writeFakeLock(target, {
      boot: "",
      pid: DEAD_PID,
      lease: LONG_LEASE,
    });
    const real = faultAdapter([]);
    const identity = real.identity.bind(real);
    const adapter = faultAdapter([], {
      identity: () => ({ ...identity(), boot: "" }),
    });
    await using(adapter, async () => {
      await failsWith(lockFile(target, { timeout: 100 }), "ETIMEDOUT");
      assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
    });
    assert.ok(fs.existsSync(lock));
  });
});

test("lockFile() waits for a lock of another boot touched since this machine booted (another machine of the same name)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lock = writeFakeLock(target, {
      boot: "00000000-0000-0000-0000-000000000000",
      lease: LONG_LEASE,
    });
    await failsWith(lockFile(target, { timeout: 100 }), "ETIMEDOUT");
    assert.ok(fs.existsSync(lock));
  });
});

test("removeStaleTemps() keeps a lock of another boot touched since this machine booted", async () => {
  await withTempDir(async (dir) => {
    // A second old: older than the sweep's olderThan, younger than this boot.
    const lock = writeFakeLock(path.join(dir, "f"), {
      boot: "00000000-0000-0000-0000-000000000000",
      lease: LONG_LEASE,
    }, 1000);
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
    assert.ok(fs.existsSync(lock));
  });
});

test("lockFile() asks when this machine booted at each judgement of a lock of another boot, and never for a lock of this boot", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    let booted = Date.now() - 3_600_000;
    let asked = 0;
    const adapter = faultAdapter([], {
      bootTime: () => (asked++, booted),
    });
    await using(adapter, async () => {
      // A live holder of this boot (this process, another token).
      const own = writeFakeLock(target, { lease: LONG_LEASE });
      await failsWith(lockFile(target, { timeout: 0 }), "ETIMEDOUT");
      assert.equal(asked, 0);
      fs.rmSync(own);
      // A lock of another boot, last touched two minutes ago: after the boot...
      writeFakeLock(target, {
        boot: "00000000-0000-0000-0000-000000000000",
        lease: 10 * LONG_LEASE,
      }, 120_000);
      await failsWith(lockFile(target, { timeout: 0 }), "ETIMEDOUT");
      assert.ok(asked > 0);
      // ...until a step of the wall clock moves the boot after it.
      booted = Date.now() - 60_000;
      await (await lockFile(target, { timeout: 0 })).release();
    });
  });
});

test("lockFile() waits for a holder of another time namespace, whose start time reads differently here", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    // Our own pid, alive, with a start time as another time namespace shows it.
    writeFakeLock(target, {
      pid: process.pid,
      start: "1",
      timens: "time:[1]",
      lease: LONG_LEASE,
    });
    await failsWith(lockFile(target, { timeout: 100 }), "ETIMEDOUT");
  });
});
// ------------------------------------------------ real children in namespaces

/** How a child's command is run: as it is, or inside another command. */
type Wrap = (command: string[]) => string[];
const asIs: Wrap = (command) => command;

/** Test options for the cases that need root and unshare (skipped with the reason otherwise). */
const IN_NAMESPACES = { ...CHILD_TEST, skip: cannotUnshare() ?? false };

/** A live child beside which a test runs: the lock of `target` held, or a write to it open. */
interface Live {
  /** The file the child locks or writes. */
  readonly target: string;
  /** The child. */
  readonly child: Running;
  /** The temporary files of a writer. */
  readonly temps: string[];
}

/** Starts a child that holds the lock of `target` (`_lock_child.ts hold`) or a write to it (`_lifecycle_host.ts hold`), run by `wrap`; resolves once it holds it. */
async function startLive(
  target: string,
  kind: "lock" | "write",
  wrap: Wrap,
): Promise<Live> {
  if (kind === "lock") {
    const child = start(wrap(childCommand("_lock_child.ts", ["hold", target])));
    assert.equal(await child.firstLine, "held");
    return { target, child, temps: [] };
  }
  const child = start(
    wrap(childCommand("_lifecycle_host.ts", ["hold", target, "none"])),
  );
  const { temps } = await child.line(0) as { temps: string[] };
  assert.equal(temps.length, 1, "the writer has a temp file");
  return { target, child, temps };
}

/**
 * Calls `fn` beside a live child (see {@linkcode startLive}) on `dir/f`,
 * then kills the child and waits for it to end.
 */
async function besideLive(
  dir: string,
  kind: "lock" | "write",
  wrap: Wrap,
  fn: (live: Live) => void | Promise<void>,
): Promise<void> {
  const live = await startLive(path.join(dir, "f"), kind, wrap);
  try {
    await fn(live);
  } finally {
    live.child.kill("SIGKILL");
    await live.child.ended.catch(() => {});
  }
}

/** What `_lock_child.ts try` (1 s at most) printed when run by `wrap`: "ok" if it took the lock. */
async function tryLock(target: string, wrap: Wrap): Promise<string> {
  const child = start(
    wrap(childCommand("_lock_child.ts", ["try", target, "async"])),
  );
  const said = await child.firstLine;
  await child.ended;
  return said;
}

/** Runs commands where the boot id reads as another one (a file in `dir` bound over it). */
function otherBoot(dir: string): Wrap {
  const bootId = path.join(dir, "boot_id");
  fs.writeFileSync(bootId, "00000000-0000-4000-8000-000000000000\n");
  return (command) => withBootId(bootId, command);
}

test(
  "lockFile() with another boot id keeps a live holder's lock of the same host name",
  IN_NAMESPACES,
  async () => {
    await withTempDir((dir) =>
      besideLive(dir, "lock", asIs, async ({ target }) => {
        assert.equal(await tryLock(target, otherBoot(dir)), "ETIMEDOUT");
      })
    );
  },
);

test(
  "removeStaleTemps() with another boot id keeps a live holder's lock of the same host name",
  IN_NAMESPACES,
  async () => {
    await withTempDir((dir) =>
      besideLive(dir, "lock", asIs, async ({ target }) => {
        const sweep = otherBoot(dir)(
          childCommand("_lifecycle_host.ts", ["sweep", dir]),
        );
        assert.deepEqual(await start(sweep).line(0), { removed: [] });
        assert.ok(fs.existsSync(lockPathOf(target)));
      })
    );
  },
);

test(
  "lockFile() reads when this machine booted at each judgement: a boot time read while the clock ran ahead does not take a live lock of another boot after the clock is set back",
  IN_NAMESPACES,
  async () => {
    await withTempDir(async (dir) => {
      const [first, second] = [path.join(dir, "a"), path.join(dir, "b")];
      // Locks that live holders on another machine of this host name
      // heartbeat (a lease of an hour): one just now, one ten minutes ago.
      const other = {
        boot: "00000000-0000-0000-0000-000000000000",
        lease: 3_600_000,
      };
      writeFakeLock(first, other);
      const kept = writeFakeLock(second, other, 600_000);
      const stat = path.join(dir, "stat");
      const bootedAt = (ms: number) =>
        fs.writeFileSync(
          stat,
          fs.readFileSync("/proc/stat", "latin1").replace(
            /^btime \d+$/m,
            `btime ${Math.floor(ms / 1000)}`,
          ),
        );
      // While the wall clock runs ahead, the kernel says this machine
      // booted five minutes ago: the first lock was touched since.
      bootedAt(Date.now() - 300_000);
      const go = path.join(dir, "go");
      const child = start(
        withProcStat(
          stat,
          childCommand("_lock_child.ts", ["try-twice", first, second, go]),
        ),
      );
      assert.equal(await child.line(0), "ETIMEDOUT");
      // NTP sets the clock back: the boot was an hour ago, before the
      // second lock's last heartbeat too.
      bootedAt(Date.now() - 3_600_000);
      fs.writeFileSync(go, "");
      assert.equal(await child.line(1), "ETIMEDOUT", child.stderr());
      await child.ended;
      assert.ok(fs.existsSync(kept));
    });
  },
);

/** Test options for the cases run as nobody under a hiding /proc. */
const AS_NOBODY_HIDDEN = {
  ...CHILD_TEST,
  skip: cannotUnshare() ?? canDropPrivileges() ?? false,
};

/**
 * Calls `fn` with a child that runs as nobody under a /proc that hides
 * root's processes, beside a live child of root in a directory anyone may
 * write in (not sticky: the kernel would let nobody remove root's files
 * there; only the library's judgment stops it).
 */
async function hiddenFromNobody(
  kind: "lock" | "write",
  fn: (asNobody: NobodyChild, live: Live, dir: string) => void,
): Promise<void> {
  await withNobody(async (asNobody, shared) => {
    fs.chmodSync(shared, 0o777);
    await besideLive(shared, kind, asIs, (live) => fn(asNobody, live, shared));
  }, withHidingProc);
}

test(
  "updateFileAtomic() under a /proc that hides other users' processes keeps a live holder's lock",
  AS_NOBODY_HIDDEN,
  async () => {
    await hiddenFromNobody("lock", (asNobody, { target }) => {
      assert.match(asNobody("update", target), /^ETIMEDOUT /);
    });
  },
);

test(
  "removeStaleTemps() under a /proc that hides other users' processes keeps a live writer's temp file",
  AS_NOBODY_HIDDEN,
  async () => {
    await hiddenFromNobody("write", (asNobody, { temps }, dir) => {
      assert.equal(asNobody("sweep", dir), "[]");
      assert.deepEqual(tempsIn(dir), temps);
    });
  },
);

/** Test options for the cases in a time namespace. */
const IN_TIME_NAMESPACE = { ...CHILD_TEST, skip: cannotUnshareTime() ?? false };

test(
  "lockFile() keeps the lock of a live holder in another time namespace",
  IN_TIME_NAMESPACE,
  async () => {
    await withTempDir((dir) =>
      besideLive(dir, "lock", inTimeNamespace, async ({ target }) => {
        await failsWith(lockFile(target, { timeout: 1000 }), "ETIMEDOUT");
      })
    );
  },
);

test(
  "removeStaleTemps() keeps a live writer's temp file from another time namespace",
  IN_TIME_NAMESPACE,
  async () => {
    await withTempDir((dir) =>
      besideLive(dir, "write", inTimeNamespace, async ({ temps }) => {
        assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
        assert.deepEqual(tempsIn(dir), temps);
      })
    );
  },
);

test(
  "lockFile() keeps a live holder's lock where the holder's /proc shows another PID namespace",
  IN_NAMESPACES,
  async () => {
    // PID 1 of a namespace without a /proc of its own: /proc/1 is another process.
    await withTempDir((dir) =>
      besideLive(dir, "lock", inPidNamespaceWithoutProc, async (live) => {
        // A waiter in the same namespace, with its own /proc: there /proc/1 is the holder.
        const [inside] = childrenOf(live.child.pid);
        const joining: Wrap = (command) => joiningPidNamespace(inside, command);
        assert.equal(await tryLock(live.target, joining), "ETIMEDOUT");
      })
    );
  },
);
