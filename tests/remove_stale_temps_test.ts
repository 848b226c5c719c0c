import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { spawnSync } from "node:child_process";
import {
  AtomicWriteError,
  removeStaleTemps,
  removeStaleTempsSync,
} from "../mod.ts";
import {
  CLOSET_SUFFIX,
  isKnownWriter,
  tempName,
  type TempOwner,
} from "../src/_temp_name.ts";
import type { Writer } from "../src/runtime/_writer_identity.ts";
import { detectAdapter } from "../src/runtime/detect.ts";
import { reclaimName } from "../src/_lock_name.ts";
import { swappingInLink, writeFakeLock } from "./_lock_fixtures.ts";
import { linkedTree, mkfifo } from "./_path_fixtures.ts";
import { withNobody } from "./_as_nobody.ts";
import { NOBODY } from "./_sticky_fixtures.ts";
import { CHILD_TEST, childCommand, start } from "./_running.ts";
import {
  backdate,
  canDropPrivileges,
  DEAD_PID,
  deadWriter,
  faultAdapter,
  scriptCommand,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { skipTest } from "./_skip.ts";

const HOUR = 60 * 60 * 1000;
const root = fileURLToPath(new URL("..", import.meta.url));
const DAY = 24 * HOUR;

/** Creates a temporary file of ours for `target`, made by `owner`, last modified `ageMs` ago. */
function temp(dir: string, target: string, owner: TempOwner, ageMs = 2 * HOUR) {
  const file = path.join(dir, tempName(target, owner));
  fs.writeFileSync(file, "partial");
  backdate(file, ageMs);
  return file;
}

/** A writer with this host's identity (fake ids); the adapter below judges it. */
function writer(pid: number): Writer {
  return { pid, thread: pid, start: 1, host: "0123456789ab" };
}

/** The real adapter, except that only `alive` writers' process ids run. */
function onlyAlive(...alive: number[]) {
  return faultAdapter([], {
    writerState: (w) => alive.includes(w.pid) ? "alive" : "gone",
  });
}

/** The real adapter, except that no writer can be judged. */
function cannotTell() {
  return faultAdapter([], { writerState: () => "unknown" });
}

/** This thread as the real adapter names it, if it can. */
function me(): Writer | null {
  const owner = detectAdapter().writer();
  return isKnownWriter(owner) ? owner : null;
}

/** A short wait, for polling another process. */
function pause(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 5));
}

/** The command name of process `pid`, as /proc shows it. */
function comm(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/comm`, "latin1");
}

/** The state letter of process `pid` (`Z`: a zombie), as /proc shows it. */
function stateOf(pid: number): string {
  return fs.readFileSync(`/proc/${pid}/stat`, "latin1").split(") ")[1][0];
}

test("removeStaleTemps() removes a dead process's temp file and returns its path", async () => {
  await withTempDir(async (dir) => {
    const stale = temp(dir, "state.json", deadWriter());
    fs.writeFileSync(path.join(dir, "state.json"), "{}");
    const removed = await removeStaleTemps(dir, { olderThan: HOUR });
    assert.deepEqual(removed, [stale]);
    assert.deepEqual(fs.readdirSync(dir), ["state.json"]);
  });
});

test("removeStaleTempsSync() removes a dead process's temp file and returns its path", async () => {
  await withTempDir((dir) => {
    const stale = temp(dir, "state.json", deadWriter());
    assert.deepEqual(removeStaleTempsSync(dir, { olderThan: HOUR }), [stale]);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

for (
  const [name, sweep] of [
    ["removeStaleTemps()", removeStaleTemps],
    ["removeStaleTempsSync()", removeStaleTempsSync],
  ] as const
) {
  test(`${name} sweeps the directory the kernel finds at dir, through a linked directory and .., and no other`, async () => {
    await withTempDir(async (dir) => {
      // `alias/..` is `real` to the kernel (`alias` -> `real/sub`), `dir` as
      // text: a dead temp of the same name lies in both.
      const { alias } = linkedTree(dir);
      const stale = temp(path.join(dir, "real"), "state.json", deadWriter());
      const lookalike = path.join(dir, path.basename(stale));
      fs.copyFileSync(stale, lookalike);
      const removed = await sweep(`${alias}/..`, { olderThan: HOUR });
      assert.deepEqual(removed, [`${alias}/../${path.basename(stale)}`]);
      assert.equal(fs.existsSync(stale), false);
      assert.equal(fs.existsSync(lookalike), true);
    });
  });
}

test("removeStaleTemps() keeps a temp file of a live process", async () => {
  await withTempDir(async (dir) => {
    const mine = temp(dir, "a.txt", detectAdapter().writer(), 10 * HOUR);
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
    assert.deepEqual(removeStaleTempsSync(dir, { olderThan: 0 }), []);
    assert.ok(fs.existsSync(mine));
  });
});

test("removeStaleTemps() asks the adapter which processes are alive", async () => {
  await withTempDir(async (dir) => {
    const live = temp(dir, "a.txt", writer(4242));
    const dead = temp(dir, "b.txt", writer(4343));
    const removed = await using(
      onlyAlive(4242),
      () => removeStaleTemps(dir, { olderThan: 0 }),
    );
    assert.deepEqual(removed, [dead]);
    assert.ok(fs.existsSync(live));
  });
});

test("removeStaleTemps() keeps a dead process's temp file younger than olderThan", async () => {
  await withTempDir(async (dir) => {
    const young = temp(dir, "a.txt", deadWriter(), 60_000);
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: HOUR }), []);
    assert.ok(fs.existsSync(young));
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 30_000 }), [
      young,
    ]);
  });
});

test("removeStaleTemps() with olderThan 0 removes a dead process's temp file at once, even one whose time lies in the future", async () => {
  await withTempDir(async (dir) => {
    const ahead = temp(dir, "a.txt", deadWriter(), -HOUR); // a clock set back since
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), [ahead]);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("removeStaleTemps() defaults olderThan to one hour", async () => {
  await withTempDir(async (dir) => {
    const recent = temp(dir, "a.txt", deadWriter(), HOUR / 2);
    const old = temp(dir, "b.txt", deadWriter(), 2 * HOUR);
    assert.deepEqual(await removeStaleTemps(dir), [old]);
    assert.deepEqual(removeStaleTempsSync(dir, {}), []);
    assert.ok(fs.existsSync(recent));
  });
});

test("removeStaleTemps() keeps files that only look like temp files", async () => {
  await withTempDir(async (dir) => {
    const names = [
      "notes.atomic-tmp",
      `.a.txt.${DEAD_PID}-xyz.atomic-tmp`,
      `.a.txt.${DEAD_PID}-0123456789ab.atomic-tmp.bak`,
      `a.txt.${DEAD_PID}-0123456789ab.atomic-tmp`,
      "a.txt",
    ];
    for (const name of names) {
      fs.writeFileSync(path.join(dir, name), "x");
      const when = (Date.now() - 2 * HOUR) / 1000;
      fs.utimesSync(path.join(dir, name), when, when);
    }
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
    assert.deepEqual(fs.readdirSync(dir).sort(), names.sort());
  });
});

test("removeStaleTemps() keeps a symbolic link with a temp file name, and what it leads to", async () => {
  await withTempDir(async (dir) => {
    const elsewhere = path.join(dir, "elsewhere");
    fs.mkdirSync(elsewhere);
    const inside = temp(elsewhere, "a.txt", deadWriter());
    const link = path.join(dir, tempName("l", deadWriter()));
    fs.symlinkSync(elsewhere, link);
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.ok(fs.existsSync(inside));
  });
});

test("removeStaleTemps() keeps a directory with a temp file name, and what is in it", async () => {
  await withTempDir(async (dir) => {
    const subdir = path.join(dir, tempName("d", deadWriter()));
    fs.mkdirSync(subdir);
    const inside = temp(subdir, "a.txt", deadWriter());
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
    assert.ok(fs.existsSync(inside));
  });
});

test(
  "removeStaleTemps() keeps a closet that another user made, and what is in it",
  { skip: canDropPrivileges() ?? false },
  async () => {
    await withTempDir(async (dir) => {
      const closet = path.join(
        dir,
        tempName("d", deadWriter(), CLOSET_SUFFIX),
      );
      fs.mkdirSync(closet);
      const inside = temp(closet, "a.txt", deadWriter());
      fs.chownSync(closet, NOBODY, NOBODY);
      assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
      assert.ok(fs.existsSync(inside));
    });
  },
);

test("removeStaleTemps() removes a dead writer's closet (a directory of its own with a temp file name), with the temp file in it", async () => {
  await withTempDir(async (dir) => {
    // What a crash leaves of a set-ID file given to another owner
    // (`_closet.ts`): the writer's directory, the file in it.
    const closet = path.join(
      dir,
      tempName("tool", deadWriter(), CLOSET_SUFFIX),
    );
    fs.mkdirSync(closet, { mode: 0o700 });
    const inside = temp(closet, "tool", deadWriter());
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), [
      inside,
      closet,
    ]);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("removeStaleTemps() keeps a live writer's closet", async () => {
  await withTempDir(async (dir) => {
    const closet = path.join(
      dir,
      tempName("tool", writer(4242), CLOSET_SUFFIX),
    );
    fs.mkdirSync(closet, { mode: 0o700 });
    temp(closet, "tool", writer(4242));
    await using(onlyAlive(4242), async () => {
      assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
    });
    assert.equal(fs.readdirSync(closet).length, 1);
  });
});

test("removeStaleTemps() accepts a file: URL and returns paths sorted by name", async () => {
  await withTempDir(async (dir) => {
    const b = temp(dir, "b", deadWriter());
    const a = temp(dir, "a", deadWriter());
    const removed = await removeStaleTemps(pathToFileURL(dir), {
      olderThan: 0,
    });
    assert.deepEqual(removed, [a, b]);
  });
});

test("removeStaleTemps() skips a temp file that another sweeper removed first", async () => {
  await withTempDir(async (dir) => {
    const gone = temp(dir, "a.txt", deadWriter());
    const kept = temp(dir, "b.txt", deadWriter());
    const adapter = faultAdapter([
      { op: "remove", code: "ENOENT", where: (args) => args[0] === gone },
    ], { writerState: () => "gone" });
    const removed = await using(
      adapter,
      () => removeStaleTemps(dir, { olderThan: 0 }),
    );
    assert.deepEqual(removed, [kept]);
  });
});

test("removeStaleTemps() rejects with the code when a stale file cannot be removed for a reason other than its owner", async () => {
  await withTempDir(async (dir) => {
    const stuck = temp(dir, "a.txt", deadWriter());
    const adapter = faultAdapter([{ op: "remove", code: "EROFS" }], {
      writerState: () => "gone",
    });
    await using(adapter, async () => {
      await assert.rejects(
        removeStaleTemps(dir, { olderThan: 0 }),
        (error: Error & { code?: string }) => {
          assert.ok(error instanceof AtomicWriteError);
          assert.equal(error.code, "EROFS");
          assert.equal(error.operation, "remove");
          assert.match(error.message, /remove ".*a\.txt.*" failed \(EROFS\)/);
          return true;
        },
      );
    });
    assert.ok(fs.existsSync(stuck));
  });
});

test("removeStaleTemps() rejects with ENOENT for a missing directory", async () => {
  await withTempDir(async (dir) => {
    const missing = path.join(dir, "missing");
    const expected = (error: unknown) =>
      error instanceof AtomicWriteError && error.code === "ENOENT" &&
      error.message.startsWith(
        `Cannot remove stale temporary files in "${missing}"`,
      );
    await assert.rejects(removeStaleTemps(missing), expected);
    assert.throws(() => removeStaleTempsSync(missing), expected);
  });
});

test("removeStaleTemps() rejects bad arguments with TypeError or RangeError", async () => {
  const bad = (value: unknown) => value as never;
  await assert.rejects(removeStaleTemps(bad(42)), TypeError);
  await assert.rejects(removeStaleTemps(""), TypeError);
  await assert.rejects(removeStaleTemps(".", bad("soon")), TypeError);
  await assert.rejects(
    removeStaleTemps(".", { olderThan: bad("1h") }),
    TypeError,
  );
  await assert.rejects(removeStaleTemps(".", { olderThan: -1 }), RangeError);
  await assert.rejects(removeStaleTemps(".", { olderThan: NaN }), RangeError);
  assert.throws(() => removeStaleTempsSync(bad(null)), TypeError);
  assert.throws(() => removeStaleTempsSync(".", { olderThan: -5 }), RangeError);
  await assert.rejects(
    removeStaleTemps(".", { olderThanIfUnknown: bad("1d") }),
    TypeError,
  );
  assert.throws(
    () => removeStaleTempsSync(".", { olderThanIfUnknown: -1 }),
    RangeError,
  );
});

test("removeStaleTemps() never counts a writer it cannot judge as gone", async () => {
  await withTempDir(async (dir) => {
    const unknown = temp(dir, "a.txt", writer(4242), 2 * HOUR);
    const removed = await using(
      cannotTell(),
      () => removeStaleTemps(dir, { olderThan: 0 }),
    );
    assert.deepEqual(removed, []);
    assert.ok(fs.existsSync(unknown));
  });
});

test("removeStaleTemps() removes a file of a writer it cannot judge once olderThanIfUnknown old (default one day)", async () => {
  await withTempDir(async (dir) => {
    const day = temp(dir, "a.txt", writer(4242), DAY + HOUR);
    const hours = temp(dir, "b.txt", writer(4343), 3 * HOUR);
    await using(cannotTell(), async () => {
      assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), [day]);
      assert.deepEqual(
        removeStaleTempsSync(dir, { olderThanIfUnknown: 2 * HOUR }),
        [hours],
      );
    });
  });
});

test("removeStaleTemps() judges a name with only a process id by age alone", async () => {
  await withTempDir(async (dir) => {
    const mine = temp(dir, "a.txt", { pid: process.pid }, 2 * HOUR);
    const dead = temp(dir, "b.txt", { pid: DEAD_PID }, 2 * HOUR);
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
    assert.deepEqual(
      await removeStaleTemps(dir, { olderThanIfUnknown: HOUR }),
      [mine, dead],
    );
  });
});

test("removeStaleTemps() cannot judge a writer of another boot or PID namespace, even with a live pid", async (t) => {
  const self = me();
  if (self === null) return skipTest(t, "this runtime cannot read /proc here");
  await withTempDir(async (dir) => {
    // The same pid and thread as this test, but another host hash: a container sharing the directory.
    const other = temp(dir, "a.txt", { ...self, host: "000000000000" });
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), []);
    assert.ok(fs.existsSync(other));
  });
});

test("removeStaleTemps() removes a file whose pid now belongs to a later process (another start time)", async (t) => {
  const self = me();
  if (self === null) return skipTest(t, "this runtime cannot read /proc here");
  await withTempDir(async (dir) => {
    // A container's PID 1 killed and restarted: same pid, alive, started later.
    const reused = temp(dir, "a.txt", { ...self, start: self.start - 1 });
    assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), [reused]);
  });
});

test(
  "removeStaleTemps() removes the temp file of a writer killed but not yet reaped (a zombie)",
  {
    ...CHILD_TEST,
    skip: me() === null ? "this runtime cannot read /proc here" : false,
  },
  async () => {
    await withTempDir(async (dir) => {
      // The shell starts the writer and prints its pid, then becomes a
      // `sleep` that never reaps it: killed, the writer stays a zombie, its
      // /proc entry still there.
      const shell = start([
        "sh",
        "-c",
        '"$@" >/dev/null & echo $!; exec sleep 60',
        "sh",
        ...childCommand("_child.ts", ["hold", path.join(dir, "f.txt")]),
      ]);
      const pid = Number(await shell.firstLine);
      try {
        while (tempsIn(dir).length === 0) await pause();
        const temp = path.join(dir, tempsIn(dir)[0]);
        // Until the shell has become `sleep`, it may still reap its child.
        while (comm(shell.pid) !== "sleep\n") await pause();
        process.kill(pid, "SIGKILL");
        while (stateOf(pid) !== "Z") await pause();
        assert.deepEqual(await removeStaleTemps(dir, { olderThan: 0 }), [temp]);
        assert.equal(stateOf(pid), "Z", "judged while still a zombie");
      } finally {
        process.kill(pid, "SIGKILL");
        shell.kill("SIGKILL");
        await shell.ended;
      }
    });
  },
);

test(
  "removeStaleTemps() keeps a file of another user in a sticky directory, even as root",
  { skip: canDropPrivileges() ?? false },
  async () => {
    await withTempDir(async (dir) => {
      fs.chmodSync(dir, 0o1777);
      const theirs = temp(dir, "a.txt", deadWriter());
      fs.chownSync(theirs, 65534, 65534);
      const mine = temp(dir, "b.txt", deadWriter());
      const removed = await removeStaleTemps(dir, {
        olderThan: 0,
        olderThanIfUnknown: 0,
      });
      assert.deepEqual(removed, [mine]);
      assert.ok(fs.existsSync(theirs));
    });
  },
);

test(
  "removeStaleTemps() keeps another user's dead lock in a sticky directory, even as root",
  { skip: canDropPrivileges() ?? false },
  async () => {
    await withTempDir(async (dir) => {
      fs.chmodSync(dir, 0o1777);
      const theirs = writeFakeLock(
        path.join(dir, "theirs.json"),
        { pid: DEAD_PID },
        2 * HOUR,
      );
      fs.chownSync(theirs, 65534, 65534);
      const mine = writeFakeLock(
        path.join(dir, "mine.json"),
        { pid: DEAD_PID },
        2 * HOUR,
      );
      const removed = await removeStaleTemps(dir, { olderThan: 0 });
      assert.deepEqual(removed, [mine]);
      assert.ok(fs.existsSync(theirs));
    });
  },
);

test("removeStaleTemps() removes nothing in a sticky directory when the runtime will not say who runs it", async () => {
  await withTempDir(async (dir) => {
    fs.chmodSync(dir, 0o1777);
    const stale = temp(dir, "a.txt", deadWriter());
    const removed = await using(
      faultAdapter([], { ids: () => null }),
      () => removeStaleTemps(dir, { olderThan: 0, olderThanIfUnknown: 0 }),
    );
    assert.deepEqual(removed, []);
    assert.ok(fs.existsSync(stale));
  });
});

test(
  "removeStaleTemps() skips a dead holder's lock whose reclaim mutex's name another user took, and sweeps the rest",
  { skip: canDropPrivileges() ?? false },
  async (t) => {
    await withTempDir(async (dir) => {
      fs.chmodSync(dir, 0o1777);
      const target = path.join(dir, "state.json");
      const lock = writeFakeLock(target, { pid: DEAD_PID }, 2 * HOUR);
      const mutex = path.join(
        dir,
        reclaimName(path.basename(lock), "0123456789abcdef"),
      );
      const skip = mkfifo(mutex); // what another user would plant there
      if (skip !== null) return skipTest(t, skip);
      fs.chownSync(mutex, 65534, 65534);
      const stale = temp(dir, "a.txt", deadWriter());
      const removed = await removeStaleTemps(dir, { olderThan: 0 });
      assert.deepEqual(removed, [stale]);
      assert.ok(fs.existsSync(lock));
      assert.ok(fs.existsSync(mutex));
    });
  },
);

test(
  "removeStaleTemps() run by another user in root's sticky directory skips root's stale files and lock, and sweeps its own",
  { skip: canDropPrivileges() ?? false },
  async () => {
    await withNobody((asNobody, shared) => {
      const roots = temp(shared, "a.txt", deadWriter());
      const lock = writeFakeLock(
        path.join(shared, "b.txt"),
        { pid: DEAD_PID },
        2 * HOUR,
      );
      const theirs = temp(shared, "c.txt", deadWriter());
      fs.chownSync(theirs, 65534, 65534);
      assert.equal(asNobody("sweep", shared), JSON.stringify([theirs]));
      assert.ok(fs.existsSync(roots));
      assert.ok(fs.existsSync(lock));
    });
  },
);

test(
  "removeStaleTemps() leaves a stale temporary file that has a file mounted onto it (EBUSY) and sweeps the others",
  {
    skip: process.platform !== "linux" || process.getuid?.() !== 0
      ? "needs root on Linux to mount in a private mount namespace"
      : false,
  },
  async () => {
    await withTempDir((dir) => {
      const volume = path.join(dir, "volume");
      fs.writeFileSync(volume, "volume");
      const busy = temp(dir, "a.txt", deadWriter());
      const stale = temp(dir, "b.txt", deadWriter());
      const sweep = spawnSync("unshare", [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind "$1" "$2" && shift 2 && exec "$@"',
        "sh",
        volume,
        busy,
        ...scriptCommand(path.join(root, "tests", "_sweep_child.ts"), [
          "sweep",
          dir,
        ]),
      ], { encoding: "utf8" });
      assert.equal(sweep.stdout.trim(), JSON.stringify([stale]), sweep.stderr);
      assert.ok(fs.existsSync(busy));
      assert.equal(fs.readFileSync(volume, "utf8"), "volume");
    });
  },
);

for (
  const [name, sweep] of [
    ["removeStaleTemps()", removeStaleTemps],
    [
      "removeStaleTempsSync()",
      (...args: Parameters<typeof removeStaleTempsSync>) =>
        Promise.resolve().then(() => removeStaleTempsSync(...args)),
    ],
  ] as const
) {
  test(`${name} leaves alone a link renamed to a lock's name after its look, and sweeps on`, async () => {
    await withTempDir(async (dir) => {
      const lock = writeFakeLock(path.join(dir, "state.json"), {});
      const stale = temp(dir, "other.json", deadWriter());
      assert.deepEqual(
        await using(
          swappingInLink(lock),
          () => sweep(dir, { olderThan: HOUR }),
        ),
        [stale],
      );
      assert.equal(fs.readlinkSync(lock), "/etc/hostname");
    });
  });
}
