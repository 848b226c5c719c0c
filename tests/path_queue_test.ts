/**
 * Call order per file, whatever path reaches it: writes to one file through
 * a link, a linked directory or its real path rename in call order; writes
 * to different files never wait for each other.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { AtomicWriter, openAtomic, writeFileAtomic } from "../mod.ts";
import {
  type FaultAdapter,
  faultAdapter,
  read,
  root,
  scriptCommand,
  settlesWithin,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { linkedTree } from "./_path_fixtures.ts";
import { takeTicket } from "../src/_path_queue.ts";
import { resolveOptions } from "../src/_validate.ts";
import { writeResolved } from "../src/_write.ts";
import { skipTest } from "./_skip.ts";
import { hasCapability, withCapabilities } from "./_commands.ts";
import { PermissionOverride } from "../src/runtime/_proc.ts";

/**
 * An adapter whose asynchronous write of the bytes of `text` waits until
 * `release` resolves, or `ms` milliseconds at most; `held` tells which ended
 * the wait ("released" or "timed out").
 */
function holdingWrite(
  text: string,
  release: Promise<unknown>,
  ms: number,
): FaultAdapter & { held: Promise<string> } {
  const adapter = faultAdapter([]);
  const write = adapter.async.write;
  const held = Promise.withResolvers<string>();
  adapter.async.write = async (file, bytes) => {
    if (new TextDecoder().decode(bytes) === text) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve("timed out"), ms);
      });
      held.resolve(
        await Promise.race([release.then(() => "released"), timeout]),
      );
      clearTimeout(timer);
    }
    return await write(file, bytes);
  };
  return Object.assign(adapter, { held: held.promise });
}

/**
 * Writes "first" through `slow` and then "second" through `fast`, both
 * called at once; the first write's data waits until the second has settled
 * (or 300 ms): without call order per file, the first renames last.
 */
async function firstThenSecond(
  slow: (data: string) => Promise<void>,
  fast: (data: string) => Promise<void>,
): Promise<void> {
  const second = Promise.withResolvers<void>();
  const adapter = holdingWrite("first", second.promise, 300);
  await using(adapter, async () => {
    const first = slow("first");
    fast("second").then(second.resolve, second.reject);
    await Promise.all([first, second.promise]);
  });
}

test("writeFileAtomic() renames in call order through a link and the file it leads to", async () => {
  await withTempDir(async (dir) => {
    const { real, alias } = linkedTree(dir);
    await firstThenSecond(
      (data) => writeFileAtomic(path.join(alias, "link"), data),
      (data) => writeFileAtomic(real, data),
    );
    assert.equal(read(real), "second");
    assert.deepEqual(tempsIn(path.dirname(real)), []);
  });
});

test("writeFileAtomic() renames a new file in call order through a linked directory and the real one", async () => {
  await withTempDir(async (dir) => {
    const { alias } = linkedTree(dir);
    const real = path.join(dir, "real", "sub", "new.json");
    await firstThenSecond(
      (data) => writeFileAtomic(path.join(alias, "new.json"), data),
      (data) => writeFileAtomic(real, data),
    );
    assert.equal(read(real), "second");
  });
});

test("writeFileAtomic() renames in call order through `..` after a linked directory", async () => {
  await withTempDir(async (dir) => {
    const { real, alias } = linkedTree(dir);
    await firstThenSecond(
      (data) => writeFileAtomic(`${alias}/../target.json`, data),
      (data) => writeFileAtomic(real, data),
    );
    assert.equal(read(real), "second");
  });
});

test("AtomicWriter.write() and openAtomic() keep call order with writeFileAtomic() on one file by other paths", async () => {
  await withTempDir(async (dir) => {
    const { real, alias } = linkedTree(dir);
    const writer = new AtomicWriter(path.join(alias, "link"));
    await firstThenSecond(
      (data) => writer.write(data),
      (data) => openAtomic(real, (file) => file.write(data)),
    );
    assert.equal(read(real), "second");
  });
});

/**
 * Writes "first" to `slow` and then "second" to `fast`, both called at
 * once, the first write's data held until the second has settled, or `ms`
 * ms; what ended the hold: "released" if the second did not wait for the
 * first, "timed out" if it did (it is ordered after it).
 */
async function whatEndsTheHold(
  slow: string,
  fast: string,
  ms: number,
): Promise<string> {
  const second = Promise.withResolvers<void>();
  const adapter = holdingWrite("first", second.promise, ms);
  return await using(adapter, async () => {
    const first = writeFileAtomic(slow, "first");
    writeFileAtomic(fast, "second").then(second.resolve, second.reject);
    const held = await adapter.held;
    await Promise.all([first, second.promise]);
    return held;
  });
}

test("writeFileAtomic() does not hold a write back for a slower one to another file of the same name", async () => {
  await withTempDir(async (dir) => {
    for (const sub of ["a", "b"]) fs.mkdirSync(path.join(dir, sub));
    const slow = path.join(dir, "a", "config.json");
    const fast = path.join(dir, "b", "config.json");
    // Long enough that only the second write settling can end the hold.
    assert.equal(await whatEndsTheHold(slow, fast, 5_000), "released");
    assert.equal(read(slow), "first");
    assert.equal(read(fast), "second");
  });
});

// On exFAT, NTFS or APFS each pair is one file, renamed in call order there
// (tests/fs: exFAT); on a file system that tells case, as here, two files,
// neither held back for the other (one's data may wait for the other's end).
// JavaScript's lower case alone keeps σ and ς apart (final sigma).
for (
  const [one, other] of [
    ["X.json", "x.json"],
    ["xσ", "xς"],
    ["xς", "xΣ"],
    // Names whose case-turned spelling is shorter (Ⱥ is 2 bytes, ⱥ 3), near
    // NAME_MAX: looking up a name turned whole would fail ENAMETOOLONG.
    ["\u2C65".repeat(83) + ".txt", "\u023A".repeat(83) + ".txt"],
  ]
) {
  test(`writeFileAtomic() does not hold ${other.slice(0, 8)} back for ${one.slice(0, 8)} where the file system tells them apart`, async (t) => {
    await withTempDir(async (dir) => {
      const slow = path.join(dir, one);
      const fast = path.join(dir, other);
      fs.writeFileSync(path.join(dir, "Case"), "");
      if (fs.existsSync(path.join(dir, "cASE"))) {
        return skipTest(t, "this file system ignores case");
      }
      assert.equal(await whatEndsTheHold(slow, fast, 5_000), "released");
      assert.equal(read(slow), "first");
      assert.equal(read(fast), "second");
    });
  });
}

test("writeFileAtomic() keeps the last call's data when a write between two others fails before its turn", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    async function* slowly(text: string) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      yield text;
    }
    async function* failing() {
      yield "partial";
      throw new Error("source failed");
    }
    for (const middle of ["aborted", "failing"]) {
      const aborted = new AbortController();
      const first = writeFileAtomic(target, slowly("first"));
      const second = middle === "aborted"
        ? writeFileAtomic(target, "second", { signal: aborted.signal })
        : writeFileAtomic(target, failing());
      aborted.abort();
      const last = writeFileAtomic(target, "last");
      const outcomes = await Promise.allSettled([first, second, last]);
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ["fulfilled", "rejected", "fulfilled"],
      );
      assert.equal(fs.readFileSync(target, "utf8"), "last", middle);
    }
  });
});

// A compat entry point takes the ticket when called and hands it to the
// write once its turn in the compat line comes: a write that stops before
// using it must not leave the writes after it waiting for its rename.
for (
  const [what, data, signal] of [
    ["refuses the data", 42, undefined],
    ["finds its signal aborted", "x", AbortSignal.abort()],
  ] as const
) {
  test(`writeResolved() given a ticket passes it on when it ${what}`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const ticket = takeTicket(file);
      const later = writeFileAtomic(file, "later");
      await assert.rejects(
        writeResolved(
          file,
          data,
          resolveOptions({ signal }),
          undefined,
          ticket,
        ),
      );
      const outcome = await settlesWithin(later, 5000);
      assert.equal(outcome, "settled");
      assert.equal(read(file), "later");
    });
  });
}

test("writeFileAtomic() settles a streamed write before a later plain one to the same path", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    for (let round = 0; round < 5; round++) {
      const order: string[] = [];
      await Promise.all([
        writeFileAtomic(target, ["first"]).then(() => order.push("first")),
        writeFileAtomic(target, "second", { fsync: false }).then(() =>
          order.push("second")
        ),
      ]);
      assert.deepEqual(order, ["first", "second"]);
      assert.equal(fs.readFileSync(target, "utf8"), "second");
    }
  });
});

// What a write keeps of the file is what the writes called before it left:
// a secret's mode is not undone by the next save that gives none.
for (
  const [what, initial] of [
    ["an existing file", "public"],
    ["a new file", null],
  ] as const
) {
  test(`writeFileAtomic() without a mode keeps the bits that an earlier overlapping write gave ${what}`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "secret");
      if (initial !== null) {
        fs.writeFileSync(file, initial);
        fs.chmodSync(file, 0o644);
      }
      await Promise.all([
        writeFileAtomic(file, "secret-1", { mode: 0o600 }),
        writeFileAtomic(file, "secret-2"),
        openAtomic(file, (handle) => handle.write("secret-3")),
      ]);
      assert.equal(read(file), "secret-3");
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(tempsIn(dir), []);
    });
  });
}

// Beyond the 8 writes of a thread that may wait for their turn with their
// files open, a write closes its file while it waits: it is opened again
// to match what the earlier writes left.
for (
  const [what, others] of [
    ["behind 11 other writes to the file", 0],
    ["while 9 writes to another file wait", 9],
  ] as const
) {
  test(`writeFileAtomic() without a mode keeps the bits that an earlier overlapping write gave a new file, ${what}`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "secret");
      const cache = path.join(dir, "cache");
      const busy = Array.from(
        { length: others },
        (_, i) => writeFileAtomic(cache, `cache-${i}`),
      );
      const saves = [writeFileAtomic(file, "secret-0", { mode: 0o600 })];
      for (let i = 1; i < (others === 0 ? 12 : 2); i++) {
        saves.push(writeFileAtomic(file, `secret-${i}`));
      }
      await Promise.all([...busy, ...saves]);
      assert.equal(read(file), `secret-${saves.length - 1}`);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(tempsIn(dir), []);
    });
  });
}

test("writeFileAtomic() aborted while an earlier write to the path stalls rejects at its abort, not after the stalled one", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    fs.writeFileSync(file, "old");
    const first = new AbortController();
    const stalled = writeFileAtomic(
      file,
      new ReadableStream({ start: (c) => c.enqueue(new Uint8Array([97])) }),
      { signal: first.signal },
    );
    const second = new AbortController();
    const reason = new Error("cancelled");
    const later = writeFileAtomic(file, "b", { signal: second.signal });
    setTimeout(() => second.abort(reason), 50);
    const outcome = await Promise.race([
      later.then(() => "resolved", (error) => error),
      new Promise((resolve) => setTimeout(() => resolve("pending"), 5000)),
    ]);
    assert.equal(outcome, reason);
    first.abort(new Error("done"));
    await assert.rejects(stalled, /done/);
    assert.equal(read(file), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

// A file that exists has its bits set on each temporary file, beside its
// first write: on Deno that call must not need a descriptor more.
// Root opens a file again whatever its bits: one whose bits let its owner
// neither read nor write it (/etc/shadow's 0000) is closed as any other.
for (
  const [api, how, existing] of [
    ["spaced", "2 ms apart", null],
    ["tick", "in one tick", null],
    ["tick", "in one tick, to a file that exists", 0o644],
    ["tick", "in one tick, to a file of mode 0000, as root", 0o000],
  ] as const
) {
  test(
    `writeFileAtomic() calls queued behind a slow write to the file, ${how}, keep few descriptors open while they wait (64 allowed: none fails)`,
    {
      skip: process.platform !== "linux"
        ? "prlimit is Linux's"
        : existing === 0o000 && process.getuid?.() !== 0
        ? "needs root"
        : false,
    },
    async () => {
      await withTempDir((dir) => {
        if (existing !== null) {
          fs.writeFileSync(path.join(dir, "f"), "old");
          fs.chmodSync(path.join(dir, "f"), existing);
        }
        const [exe, ...args] = scriptCommand(
          path.join(root, "tests", "_child.ts"),
          ["queue", path.join(dir, "f"), api],
        );
        const child = spawnSync("prlimit", ["--nofile=64", exe, ...args], {
          encoding: "utf8",
          timeout: 60_000,
        });
        const expected = api === "tick"
          ? "0 failed, the last\nfew open\n"
          : "0 failed, the last\n";
        assert.equal(child.stdout, expected, child.stderr);
        assert.deepEqual(tempsIn(dir), []);
      });
    },
  );
}

/** The tests that take capabilities from root: Linux's, as root. */
const ROOT_ON_LINUX = {
  skip: process.platform !== "linux"
    ? "capabilities are Linux's"
    : process.getuid?.() !== 0
    ? "needs root"
    : false,
};

// Root that may not give files away (no CAP_CHOWN: `--cap-drop ALL`)
// keeps the files it makes, and opens them again by their bits, as their
// owner: its waiting files close as any other writer's, though the file
// it replaces is another user's and it cannot open any file whatever its
// bits either (no CAP_DAC_OVERRIDE).
test(
  "writeFileAtomic() calls queued behind a slow write to another user's file, by root without any capability, keep few descriptors open while they wait (64 allowed: none fails)",
  ROOT_ON_LINUX,
  async (t) => {
    await withTempDir((dir) => {
      const target = path.join(dir, "f");
      fs.writeFileSync(target, "old");
      fs.chownSync(target, 1000, 1000);
      fs.chmodSync(target, 0o644);
      const [exe, ...args] = scriptCommand(
        path.join(root, "tests", "_child.ts"),
        ["queue", target, "tick"],
      );
      const child = withCapabilities(
        ["--bounding-set=-all", "--"],
        ["prlimit", "--nofile=64", exe, ...args],
      );
      if (child.caps < 0n) {
        return skipTest(
          t,
          `setpriv cannot drop the capabilities: ${child.stderr.trim()}`,
        );
      }
      if (child.caps !== 0n) {
        return skipTest(
          t,
          `capabilities stay effective (${child.caps.toString(16)})`,
        );
      }
      assert.equal(
        child.stdout,
        "0 failed, the last\nfew open\n",
        child.stderr,
      );
      assert.equal(fs.statSync(target).uid, 0); // the chown was refused
      assert.deepEqual(tempsIn(dir), []);
    });
  },
);

test("CAP_DAC_OVERRIDE is root's default where /proc cannot be read, and the last answer where a read fails", () => {
  let status: string | Error = new Error("NotCapable: requires --allow-all");
  const override = new PermissionOverride(() => {
    if (status instanceof Error) throw status;
    return status;
  });
  assert.equal(override.has(() => true), true);
  assert.equal(override.has(() => false), false);
  status = "Name:\tx\nCapEff:\t0000000000000000\n";
  assert.equal(override.has(() => true), false);
  status = Object.assign(new Error("EMFILE"), { code: "EMFILE" });
  assert.equal(override.has(() => true), false);
  status = "Name:\tx\nCapEff:\t000001ffffffffff\n";
  assert.equal(override.has(() => false), true);
});

/** setpriv's arguments that take `CAP_DAC_OVERRIDE` (and `CAP_DAC_READ_SEARCH`) from root, for good: out of the bounding set, so out of the effective set of every program it runs. */
const WITHOUT_DAC_OVERRIDE = [
  "--bounding-set=-dac_override,-dac_read_search",
  "--",
];

/** `CAP_DAC_OVERRIDE`'s number (`linux/capability.h`). */
const CAP_DAC_OVERRIDE = 1n;

// Root opens a file again whatever its bits only with CAP_DAC_OVERRIDE,
// which a container (`--cap-drop`) or a systemd unit may take away: without
// it, past the writes that wait with their files open, a file whose bits
// let its owner neither read nor write it (0000, as /etc/shadow) stays open
// while it waits, as for any other user, rather than fail to open again.
test(
  "writeFileAtomic() as root without CAP_DAC_OVERRIDE replaces a file of mode 0000 in a burst of writes whose first changes its bits",
  ROOT_ON_LINUX,
  async (t) => {
    await withTempDir((dir) => {
      const target = path.join(dir, "shadow");
      fs.writeFileSync(target, "old");
      fs.chmodSync(target, 0o000);
      const [exe, ...args] = scriptCommand(
        path.join(root, "tests", "_child.ts"),
        ["burst", target, "400"],
      );
      const child = withCapabilities(WITHOUT_DAC_OVERRIDE, [exe, ...args]);
      if (child.caps < 0n) {
        return skipTest(
          t,
          `setpriv cannot drop the capability: ${child.stderr.trim()}`,
        );
      }
      if (hasCapability(child.caps, CAP_DAC_OVERRIDE)) {
        return skipTest(
          t,
          `CAP_DAC_OVERRIDE stays effective (${child.caps.toString(16)})`,
        );
      }
      assert.equal(
        child.stdout.trim(),
        `${Array(10).fill("ok").join(" ")}, v8, 400`,
        child.stderr,
      );
      assert.deepEqual(tempsIn(dir), []);
    });
  },
);
