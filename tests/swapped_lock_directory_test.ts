/**
 * The directory swap of `swapped_directory_test.ts`, against locks: root
 * locks or updates `/home/user/sub/config`, and the user who owns `home`
 * swaps `sub` for a link to a directory of root's (`etc`) between the
 * lock's steps. A lock that names its files by path would then make,
 * remove or leave lock files in `etc` (removing another holder's live lock
 * of `etc/config` breaks that lock's exclusion), and an update would read
 * `etc/config` or write there. Where the directory can be held open, the
 * lock names all its files through the directory it found first, for its
 * whole life, and an update reads the file it locked, and replaces it only
 * if its path still leads to that directory at the rename (else `EAGAIN`);
 * its paths and errors still name the paths given. A swap after the first
 * look but before the lock is made changes nothing either: the lock is made
 * in the directory first looked in, and the update fails so. Here
 * the swap is made by the test between two calls, or by the adapter seam at
 * an exact step; a live lock of `etc/config` is held by a child process.
 * Where no directory can be held open, locks name their files by path, as
 * before (the last cases check they still work, unswapped).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import {
  AtomicWriteError,
  type FileLock,
  lockFile,
  lockFileSync,
  type LockOptions,
  updateFileAtomic,
  updateFileAtomicSync,
  type UpdateOptions,
} from "../mod.ts";
import {
  failsWith,
  runtimeName,
  using,
  withoutHeldDirectories,
  withTempDir,
} from "./_fixtures.ts";
import { failureOf } from "./_apis.ts";
import { startLockChild } from "./_lock_fixtures.ts";
import {
  actingAt,
  described,
  type SwapWorld,
  world,
} from "./_swap_fixtures.ts";
import { detectAdapter } from "../src/runtime/detect.ts";
import { lockedEntry, openUnderLock } from "../src/_open_under_lock.ts";

/**
 * Why no directory is held open here, if so: root holds the directory of
 * every file it locks, and names entries through it where /proc lets it.
 */
function whyNotHeld(): string | false {
  if (process.getuid?.() !== 0) {
    return "needs root, which holds the directory of every file it locks";
  }
  const real = detectAdapter();
  const held = real.sync.openDirectory(process.cwd());
  if (held === null) {
    return "no open directory can be named here (no /proc, or a runtime's permissions)";
  }
  real.sync.close(held.file);
  return false;
}

const skip = whyNotHeld();

/** Bounds the waits that a lock led into `etc` would make for the live lock there. */
const SOON = { timeout: 3_000 };

/** The lock of `config`, as the caller named its directory. */
const LOCK = ".config.atomic-lock";
/** The start of the holder's own name for it (a temporary name). */
const HOLDER = `.${LOCK}.`;
/** The waiters' line for it. */
const QUEUE = ".config.atomic-queue";

/**
 * What is in `dir`: each entry's name, with its inode, bits and content (a
 * file's, if short; a lock's record is not).
 */
function contents(dir: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    const entry = fs.lstatSync(file);
    const content = !entry.isFile()
      ? "not a file"
      : entry.size > 32
      ? `${entry.size} bytes`
      : JSON.stringify(fs.readFileSync(file, "utf8"));
    const bits = (entry.mode & 0o7777).toString(8);
    found[name] = `inode ${entry.ino}, ${bits}, ${content}`;
  }
  return found;
}

/**
 * Runs `fn` while a child process holds the lock of `file` (a live lock of
 * another process), then kills the child.
 */
async function whileLocked<T>(file: string, fn: () => Promise<T>): Promise<T> {
  const holder = startLockChild(runtimeName(), ["hold", file]);
  try {
    await holder.waitFor((line) => line === "held");
    return await fn();
  } finally {
    holder.kill("SIGKILL");
    await holder.ended;
  }
}

/**
 * Runs `fn` in the swap's world, with `etc/config` locked by a child; then
 * checks that `etc` is as it was (the file, the live lock and its holder's
 * own name, same inodes and content) and that `home/moved`, where `home/sub`
 * went, holds `config` alone, with `expected` as its bits and content.
 */
async function inSwapWorld(
  fn: (w: SwapWorld) => Promise<void>,
  expected: [number, string],
): Promise<void> {
  await withTempDir(async (dir) => {
    const w = world(dir);
    await whileLocked(w.victim, async () => {
      const before = contents(w.etc);
      assert.equal(Object.keys(before).length, 3, "config and its live lock");
      await fn(w);
      assert.deepEqual(contents(w.etc), before);
    });
    assert.deepEqual(fs.readdirSync(w.moved), ["config"]);
    assert.deepEqual(described(path.join(w.moved, "config")), expected);
  });
}

/**
 * That `error` is the `EAGAIN` of an update whose path no longer leads to
 * the directory of the file it locked, named by the path given.
 */
function assertPathMoved(error: unknown): void {
  assert.ok(error instanceof AtomicWriteError, `${error}`);
  assert.equal(error.code, "EAGAIN", error.message);
  assert.match(error.message, /no longer leads to the directory/);
  assert.ok(!throughProc(error.message), error.message);
}

/** Whether `text` names a file through an open directory. */
function throughProc(text: string): boolean {
  return text.includes("/proc/self/fd");
}

/** One way of locking a file. */
interface LockApi {
  /** `lockFile()` or `lockFileSync()`. */
  readonly name: string;
  /** How it is released: `release()` or `releaseSync()`. */
  readonly release: string;
  lock(file: string, options?: LockOptions): Promise<FileLock>;
  unlock(lock: FileLock): Promise<void>;
}

const locks: LockApi[] = [
  {
    name: "lockFile()",
    release: "release()",
    lock: (file, options) => lockFile(file, options),
    unlock: (lock) => lock.release(),
  },
  {
    name: "lockFileSync()",
    release: "releaseSync()",
    lock: (file, options) =>
      Promise.resolve().then(() => lockFileSync(file, options)),
    unlock: (lock) => Promise.resolve().then(() => lock.releaseSync()),
  },
];

/** One way of updating a file. */
interface UpdateApi {
  /** `updateFileAtomic()` or `updateFileAtomicSync()`. */
  readonly name: string;
  /** "rejects" or "throws": how it reports a failure. */
  readonly fails: "rejects" | "throws";
  update(
    file: string,
    fn: (current: string | null) => string | undefined,
    options?: UpdateOptions,
  ): Promise<unknown>;
}

const decoder = new TextDecoder();
const text = (bytes: Uint8Array | null) =>
  bytes === null ? null : decoder.decode(bytes);

const updates: UpdateApi[] = [
  {
    name: "updateFileAtomic()",
    fails: "rejects",
    update: (file, fn, options) =>
      updateFileAtomic(file, (current) => fn(text(current)), options),
  },
  {
    name: "updateFileAtomicSync()",
    fails: "throws",
    update: (file, fn, options) =>
      Promise.resolve().then(() =>
        updateFileAtomicSync(file, (current) => fn(text(current)), options)
      ),
  },
];

for (const api of locks) {
  test(
    `${api.name}'s ${api.release} after a link is swapped in for the directory removes its lock files where the directory went, and leaves the live lock in the directory linked to`,
    { skip },
    async () => {
      await inSwapWorld(async (w) => {
        const lock = await api.lock(w.target, SOON);
        w.swap();
        await api.unlock(lock);
      }, [0o666, "attacker's"]);
    },
  );

  test(
    `${api.name} keeps its lock through its heartbeats after a link is swapped in for the directory`,
    { skip },
    async () => {
      await withTempDir(async (dir) => {
        const w = world(dir);
        // A heartbeat every 400 ms.
        const lock = await api.lock(w.target, { ...SOON, lease: 2_000 });
        w.swap();
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        const lost = lock.signal.aborted;
        await api.unlock(lock);
        assert.equal(lost, false, String(lock.signal.reason));
        assert.deepEqual(fs.readdirSync(w.moved), ["config"]);
        assert.deepEqual(fs.readdirSync(w.etc), ["config"]);
      });
    },
  );

  test(
    `${api.name} names the locked file and its lock by the paths given, never through /proc/self/fd, after a link is swapped in for the directory`,
    { skip },
    async () => {
      await withTempDir(async (dir) => {
        const w = world(dir);
        const lock = await api.lock(w.target, SOON);
        w.swap();
        try {
          assert.equal(lock.path, w.target);
          assert.equal(lock.lockPath, path.join(path.dirname(w.target), LOCK));
        } finally {
          await api.unlock(lock);
        }
      });
    },
  );

  test(
    `${api.name}'s signal aborts with ELOCKLOST naming the lock by its path, never through /proc/self/fd, when its lock file is removed after a link is swapped in for the directory`,
    { skip },
    async () => {
      await withTempDir(async (dir) => {
        const w = world(dir);
        // A heartbeat every 200 ms.
        const lock = await api.lock(w.target, { ...SOON, lease: 1_000 });
        try {
          w.swap();
          fs.rmSync(path.join(w.moved, LOCK));
          const aborted = new Promise((resolve) =>
            lock.signal.addEventListener("abort", resolve)
          );
          const late = new Promise((resolve) => setTimeout(resolve, 3_000));
          await Promise.race([aborted, late]);
          const reason = lock.signal.reason;
          assert.ok(reason instanceof AtomicWriteError, String(reason));
          assert.equal(reason.code, "ELOCKLOST");
          assert.equal(reason.path, path.join(path.dirname(w.target), LOCK));
          assert.equal(reason.target, w.target);
          assert.ok(!throughProc(reason.message), reason.message);
        } finally {
          await api.unlock(lock);
        }
      });
    },
  );
}

/**
 * An update of the swap world's target to "new", where the seam swaps the
 * directory just `when` the lock's own file meets `op`: its failure, if
 * any, and the content `fn` was given.
 */
async function updateSwappedAt(
  api: UpdateApi,
  w: SwapWorld,
  op: "createExclusive" | "link",
  when: "before" | "after",
): Promise<{ error: unknown; seen: string | null }> {
  let seen: string | null = null;
  const error = await using(
    actingAt(op, HOLDER, when, w.swap),
    () =>
      failureOf(() =>
        api.update(w.target, (current) => {
          seen = current;
          return "new";
        }, SOON)
      ),
  );
  return { error, seen };
}

for (const api of updates) {
  test(
    `${api.name} reads the file it locked, then ${api.fails} with EAGAIN and replaces nothing, when a link is swapped in for its directory just after the lock is taken`,
    { skip },
    async () => {
      await inSwapWorld(async (w) => {
        const { error, seen } = await updateSwappedAt(api, w, "link", "after");
        assert.equal(seen, "attacker's");
        assertPathMoved(error);
      }, [0o666, "attacker's"]);
    },
  );

  test(
    `${api.name} ${api.fails} with EAGAIN, and replaces nothing, when a link is swapped in for its directory while fn runs`,
    { skip },
    async () => {
      await inSwapWorld(async (w) => {
        const error = await failureOf(() =>
          api.update(w.target, () => {
            w.swap();
            return "new";
          }, SOON)
        );
        assertPathMoved(error);
      }, [0o666, "attacker's"]);
    },
  );

  test(
    `${api.name} fails with EAGAIN, and replaces nothing, when the file it locked is replaced by a link to another file while fn runs`,
    { skip },
    async () => {
      await withTempDir(async (dir) => {
        const target = path.join(dir, "config");
        const other = path.join(dir, "other");
        fs.writeFileSync(target, "locked");
        fs.writeFileSync(other, "not locked");
        const error = await failureOf(() =>
          api.update(target, () => {
            fs.rmSync(target);
            fs.symlinkSync("other", target);
            return "new";
          })
        );
        assert.ok(error instanceof AtomicWriteError, `${error}`);
        assert.equal(error.code, "EAGAIN");
        assert.ok(!throughProc(error.message), error.message);
        assert.equal(fs.readFileSync(other, "utf8"), "not locked");
        assert.equal(fs.readlinkSync(target), "other");
        assert.deepEqual(fs.readdirSync(dir).sort(), ["config", "other"]);
      });
    },
  );

  test(
    `${api.name} fails with EAGAIN, and reads nothing, when a link to another file takes the name of the file it locked just as the lock is taken`,
    { skip },
    async () => {
      await withTempDir(async (dir) => {
        const target = path.join(dir, "config");
        const secret = path.join(dir, "secret");
        fs.writeFileSync(target, "locked");
        fs.writeFileSync(secret, "root's secret");
        fs.chmodSync(secret, 0o600);
        let seen: string | null | undefined;
        const error = await using(
          actingAt("link", HOLDER, "after", () => {
            fs.rmSync(target);
            fs.symlinkSync("secret", target);
          }),
          () =>
            failureOf(() =>
              api.update(target, (current) => {
                seen = current;
                return current ?? "";
              })
            ),
        );
        assert.ok(error instanceof AtomicWriteError, `${error}`);
        assert.equal(error.code, "EAGAIN");
        assert.equal(error.operation, "read");
        assert.equal(seen, undefined, "fn is not called");
        assert.equal(fs.readlinkSync(target), "secret");
        assert.equal(fs.readFileSync(secret, "utf8"), "root's secret");
        assert.deepEqual(fs.readdirSync(dir).sort(), ["config", "secret"]);
      });
    },
  );

  for (
    const [op, step] of [
      ["createExclusive", "the lock's own file is made"],
      ["link", "the lock's file is linked to the lock's name"],
    ] as const
  ) {
    test(
      `${api.name} locks and reads the file in the directory it first looked in, then ${api.fails} with EAGAIN and replaces nothing, when a link is swapped in for it before ${step}`,
      { skip },
      async () => {
        await inSwapWorld(async (w) => {
          const { error, seen } = await updateSwappedAt(api, w, op, "before");
          assertPathMoved(error);
          assert.equal(seen, "attacker's");
        }, [0o666, "attacker's"]);
      },
    );
  }

  test(
    `${api.name} ${api.fails} with fn's error and leaves no lock files in either directory when fn throws after a link is swapped in for its directory`,
    { skip },
    async () => {
      await inSwapWorld(async (w) => {
        const failure = new Error("fn failed");
        const error = await failureOf(() =>
          api.update(w.target, () => {
            w.swap();
            throw failure;
          }, SOON)
        );
        assert.equal(error, failure);
      }, [0o666, "attacker's"]);
    },
  );

  test(
    `${api.name} ${api.fails} with ELOCKLOST naming the lock by its path, never through /proc/self/fd, when its lock file is removed after a link is swapped in for its directory`,
    { skip },
    async () => {
      await withTempDir(async (dir) => {
        const w = world(dir);
        const error = await failsWith(
          api.update(w.target, () => {
            w.swap();
            fs.rmSync(path.join(w.moved, LOCK));
            return "new";
          }, SOON),
          "ELOCKLOST",
        );
        assert.equal(error.path, path.join(path.dirname(w.target), LOCK));
        assert.equal(error.target, w.target);
        assert.ok(!throughProc(error.message), error.message);
        assert.deepEqual(described(w.victim), [0o644, "root's"]);
      });
    },
  );

  test(
    `${api.name} waiting in line takes the lock over from a killed holder in the directory it first looked in, leaves no line behind, and ${api.fails} with EAGAIN replacing nothing, when a link is swapped in for it meanwhile`,
    { skip },
    async () => {
      await inSwapWorld(async (w) => {
        const holder = startLockChild(runtimeName(), ["hold", w.target]);
        try {
          await holder.waitFor((line) => line === "held");
          // As the waiter lines up: the directory is swapped, and the
          // holder dies (its lock is then taken over at once).
          const meanwhile = () => {
            w.swap();
            holder.kill("SIGKILL");
          };
          const error = await using(
            actingAt("mkdir", QUEUE, "after", meanwhile),
            () =>
              failureOf(() =>
                api.update(
                  w.target,
                  (current) => `${current} updated`,
                  { timeout: 10_000 },
                )
              ),
          );
          assertPathMoved(error);
        } finally {
          holder.kill("SIGKILL");
          await holder.ended;
        }
      }, [0o666, "attacker's"]);
    },
  );

  test(`${api.name} updates by path where no directory can be held open`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "config");
      fs.writeFileSync(file, "old");
      await using(withoutHeldDirectories(), async () => {
        await api.update(file, (current) => `${current} new`);
      });
      assert.equal(fs.readFileSync(file, "utf8"), "old new");
      assert.deepEqual(fs.readdirSync(dir), ["config"]);
    });
  });

  for (const spelled of ["data/../data/f", "data//f", "alias/f"]) {
    test(`${api.name} replaces the file it locked when the link it was given is pointed at that file spelled otherwise ("${spelled}") while fn runs`, async () => {
      await withTempDir(async (dir) => {
        fs.mkdirSync(path.join(dir, "data"));
        fs.writeFileSync(path.join(dir, "data", "f"), "1");
        fs.symlinkSync("data", path.join(dir, "alias"));
        const link = path.join(dir, "link");
        fs.symlinkSync("data/f", link);
        await api.update(link, (current) => {
          fs.rmSync(link);
          fs.symlinkSync(spelled, link);
          return `${Number(current) + 1}`;
        });
        assert.equal(fs.readFileSync(path.join(dir, "data", "f"), "utf8"), "2");
        assert.equal(fs.readlinkSync(link), spelled);
        assert.deepEqual(fs.readdirSync(path.join(dir, "data")), ["f"]);
      });
    });
  }

  test(`${api.name} fails with EAGAIN, and replaces nothing, where no directory can be held open and the link it was given is pointed at another file while fn runs`, async () => {
    await withTempDir(async (dir) => {
      const [locked, other, link] = ["locked", "other", "link"].map((name) =>
        path.join(dir, name)
      );
      fs.writeFileSync(locked, "locked");
      fs.writeFileSync(other, "not locked");
      fs.symlinkSync("locked", link);
      const error = await using(
        withoutHeldDirectories(),
        () =>
          failureOf(() =>
            api.update(link, () => {
              fs.rmSync(link);
              fs.symlinkSync("other", link);
              return "new";
            })
          ),
      );
      assert.ok(error instanceof AtomicWriteError, `${error}`);
      assert.equal(error.code, "EAGAIN");
      assert.equal(fs.readFileSync(locked, "utf8"), "locked");
      assert.equal(fs.readFileSync(other, "utf8"), "not locked");
      assert.deepEqual(fs.readdirSync(dir).sort(), ["link", "locked", "other"]);
    });
  });
}

for (const api of locks) {
  test(`${api.name} takes and ${api.release} removes the lock by path where no directory can be held open`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "config");
      await using(withoutHeldDirectories(), async () => {
        const lock = await api.lock(file, SOON);
        assert.ok(fs.existsSync(path.join(dir, LOCK)));
        assert.equal(lock.lockPath, path.join(dir, LOCK));
        await api.unlock(lock);
      });
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}

test(
  "the CLI's streaming update reads the file its lock holds, and its commit fails with EAGAIN, replacing nothing, when a link is swapped in for the directory after the lock is taken",
  { skip },
  async () => {
    await inSwapWorld(async (w) => {
      const lock = await lockFile(w.target, SOON);
      try {
        w.swap();
        const read = await fs.promises.readFile(lockedEntry(lock), "utf8");
        assert.equal(read, "attacker's");
        const file = await openUnderLock(lock, {});
        await file.write("new");
        assertPathMoved(await failureOf(() => file.commit()));
      } finally {
        await lock.release();
      }
    }, [0o666, "attacker's"]);
  },
);

test(
  "the CLI's streaming update fails with EAGAIN, not EISDIR, when a link to a directory takes the name of the file its lock holds",
  { skip },
  async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "config");
      fs.writeFileSync(target, "locked");
      fs.mkdirSync(path.join(dir, "etc"));
      const lock = await lockFile(target);
      try {
        fs.rmSync(target);
        fs.symlinkSync("etc", target);
        const error = await failureOf(() => openUnderLock(lock, {}));
        assert.ok(error instanceof AtomicWriteError, `${error}`);
        assert.equal(error.code, "EAGAIN");
      } finally {
        await lock.release();
      }
      assert.deepEqual(fs.readdirSync(dir).sort(), ["config", "etc"]);
      assert.deepEqual(fs.readdirSync(path.join(dir, "etc")), []);
    });
  },
);
