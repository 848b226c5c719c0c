/**
 * The line of waiters of a contended lock (`src/_lock_queue.ts`): a waiter
 * that finds the lock taken makes a ticket in the lock's queue directory and
 * waits on the ticket just ahead of its own, so that a release wakes one
 * waiter, not all of them. The line is advice: the lock stays the only
 * exclusion, and nothing of the line outlives it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { lockFile, removeStaleTemps } from "../mod.ts";
import {
  ahead,
  join,
  type Joined,
  leave,
  queuePathFor,
  refresh,
  type Ticket,
} from "../src/_lock_queue.ts";
import { runSync } from "../src/_run.ts";
import { isKnownWriter, tempName } from "../src/_temp_name.ts";
import { detectAdapter } from "../src/runtime/detect.ts";
import type { RuntimeAdapter } from "../src/runtime/types.ts";
import type { Writer } from "../src/runtime/_writer_identity.ts";
import {
  backdate,
  DEAD_PID,
  failsWith,
  faultAdapter,
  runtimeName,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { lockPathOf, startLockChild, writeFakeLock } from "./_lock_fixtures.ts";
import { skipTest } from "./_skip.ts";

const HOUR = 60 * 60 * 1000;
const NOBODY = 65534;

/** A writer on "this host" that the adapters below judge: alive unless its pid is DEAD_PID. */
function writer(pid: number): Writer {
  return { pid, thread: pid, start: 1, host: "0123456789ab" };
}

/** The real adapter, except that only DEAD_PID's writer is gone. */
function deadIsGone(): RuntimeAdapter {
  return faultAdapter([], {
    writerState: (w) => w.pid === DEAD_PID ? "gone" : "alive",
  });
}

/** A ticket of `owner` in `queue` that sorts before any made now. */
function earlyTicket(
  queue: string,
  owner: Writer,
  key = "00000000000001",
): string {
  fs.mkdirSync(queue, { recursive: true });
  const file = path.join(queue, tempName(key, owner));
  fs.writeFileSync(file, "");
  return file;
}

/** Tickets made by {@linkcode lineUp} and still open. */
const open = new Set<Ticket>();

function lineUp(adapter: RuntimeAdapter, lock: string): Ticket {
  return joinLine(adapter, lock).ticket;
}

function joinLine(adapter: RuntimeAdapter, lock: string): Joined {
  const joined = runSync(join(adapter, lock), adapter.sync);
  assert.ok(joined !== null, "a ticket was made");
  open.add(joined.ticket);
  return joined;
}

/** Leaves the line as a waiter does. */
function leaveLine(adapter: RuntimeAdapter, ticket: Ticket): void {
  open.delete(ticket);
  runSync(leave(ticket), adapter.sync);
}

/** Closes the tickets a test left open (its directory goes next). */
function closeTickets(): void {
  for (const ticket of open) detectAdapter().sync.close(ticket.file);
  open.clear();
}

/** The names in `dir`, sorted; none if it does not exist. */
function names(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

/** The lock file of a file `f` in `dir`. */
function lockIn(dir: string): string {
  return path.join(dir, ".f.atomic-lock");
}

/** Resolves once `done()` holds; fails after 20 s. */
async function until(what: string, done: () => boolean): Promise<void> {
  const deadline = performance.now() + 20_000;
  while (!done()) {
    if (performance.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("join() makes a ticket in the lock's queue directory, named to sort after the tickets made before it", async () => {
  await withTempDir((dir) => {
    const adapter = detectAdapter();
    const lock = lockIn(dir);
    const first = lineUp(adapter, lock);
    const second = lineUp(adapter, lock);
    assert.equal(first.queue, path.join(dir, ".f.atomic-queue"));
    assert.deepEqual(names(first.queue), [first.name, second.name]);
    assert.ok(first.name < second.name);
    closeTickets();
  });
});

test("join() that cannot make its ticket (a full disk) removes the queue directory it made for it", async () => {
  await withTempDir((dir) => {
    const lock = lockIn(dir);
    const queue = queuePathFor(lock);
    // The first try finds no directory; the second, in the directory made
    // for it, finds the disk full.
    const adapter = faultAdapter([
      { op: "createExclusive", code: "ENOSPC", from: 2 },
    ]);
    assert.equal(runSync(join(adapter, lock), adapter.sync), null);
    assert.ok(adapter.calls.includes(`mkdir:${path.basename(queue)}`));
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("join() names the ticket ahead as it lines up; nothing for the first in line", async () => {
  await withTempDir((dir) => {
    const adapter = detectAdapter();
    const lock = lockIn(dir);
    const first = joinLine(adapter, lock);
    const second = joinLine(adapter, lock);
    assert.equal(first.ahead, null);
    assert.deepEqual(second.ahead, { path: first.ticket.path, place: 1 });
    closeTickets();
  });
});

test("ahead() names the ticket just ahead and how many are ahead; nothing for the first in line", async () => {
  await withTempDir((dir) => {
    const adapter = detectAdapter();
    const lock = lockIn(dir);
    const [first, second, third] = [1, 2, 3].map(() => lineUp(adapter, lock));
    const sync = adapter.sync;
    assert.equal(runSync(ahead(adapter, first, false), sync), null);
    assert.deepEqual(runSync(ahead(adapter, third, false), sync), {
      path: second.path,
      place: 2,
    });
    closeTickets();
  });
});

test('ahead() says "lost" once the waiter\'s own ticket is gone', async () => {
  await withTempDir((dir) => {
    const adapter = detectAdapter();
    const ticket = lineUp(adapter, path.join(dir, ".f.atomic-lock"));
    fs.rmSync(ticket.path);
    assert.equal(runSync(ahead(adapter, ticket, false), adapter.sync), "lost");
    closeTickets();
  });
});

test("lockFile() waiting where the line's names are not listed (a mount that hides names starting with a dot, as ntfs-3g's hide_dot_files) times out leaving no ticket and no line behind", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const lock = writeFakeLock(target, {}); // this live process's
    const adapter = faultAdapter([]);
    for (const ops of [adapter.sync, adapter.async]) {
      const readDir = ops.readDir as (at: string) => unknown;
      (ops as { readDir: unknown }).readDir = (at: string) => {
        const hidden = (names: string[]) =>
          names.filter((name) => !name.startsWith("."));
        const listed = readDir(at);
        return listed instanceof Promise
          ? listed.then(hidden)
          : hidden(listed as string[]);
      };
    }
    await using(adapter, async () => {
      await failsWith(lockFile(target, { timeout: 1_500 }), "ETIMEDOUT");
    });
    assert.deepEqual(fs.readdirSync(dir), [path.basename(lock)]);
  });
});

test("ahead() keeps the waiter's ticket when the line cannot be read now, and has it wait on the lock file", async () => {
  await withTempDir((dir) => {
    const real = detectAdapter();
    const ticket = lineUp(real, path.join(dir, ".f.atomic-lock"));
    const adapter = faultAdapter([{ op: "readDir", code: "EMFILE" }]);
    assert.equal(runSync(ahead(adapter, ticket, false), adapter.sync), null);
    assert.ok(fs.existsSync(ticket.path));
    assert.notEqual(runSync(ahead(real, ticket, false), real.sync), "lost");
    closeTickets();
  });
});

test("ahead(), judging, removes the tickets ahead whose writer is gone and names the live one before them", async () => {
  await withTempDir((dir) => {
    const adapter = deadIsGone();
    const lock = lockIn(dir);
    const queue = queuePathFor(lock);
    const live = earlyTicket(queue, writer(1), "00000000000001");
    const dead = earlyTicket(queue, writer(DEAD_PID), "00000000000002");
    const mine = lineUp(adapter, lock);
    assert.deepEqual(runSync(ahead(adapter, mine, false), adapter.sync), {
      path: dead,
      place: 2,
    }, "without judging, a dead waiter's ticket stays");
    assert.deepEqual(runSync(ahead(adapter, mine, true), adapter.sync), {
      path: live,
      place: 1,
    });
    assert.deepEqual(names(queue), [path.basename(live), mine.name]);
    closeTickets();
  });
});

test("ahead(), judging, keeps a ticket whose writer cannot be judged while it was refreshed within 10 s", async () => {
  await withTempDir((dir) => {
    const adapter = faultAdapter([], { writerState: () => "unknown" });
    const lock = lockIn(dir);
    const other = earlyTicket(queuePathFor(lock), writer(DEAD_PID));
    backdate(other, 5_000);
    const mine = lineUp(adapter, lock);
    assert.deepEqual(runSync(ahead(adapter, mine, true), adapter.sync), {
      path: other,
      place: 1,
    });
    closeTickets();
  });
});

test("ahead(), judging, removes a ticket whose writer cannot be judged once it was not refreshed for 10 s", async () => {
  await withTempDir((dir) => {
    const adapter = faultAdapter([], { writerState: () => "unknown" });
    const lock = lockIn(dir);
    const queue = queuePathFor(lock);
    const abandoned = earlyTicket(queue, writer(DEAD_PID));
    backdate(abandoned, 11_000);
    const mine = lineUp(adapter, lock);
    assert.equal(runSync(ahead(adapter, mine, true), adapter.sync), null);
    assert.deepEqual(names(queue), [mine.name]);
    closeTickets();
  });
});

test("refresh() sets a ticket's time once a second at most", async () => {
  await withTempDir((dir) => {
    const adapter = faultAdapter([]);
    const ticket = lineUp(adapter, path.join(dir, ".f.atomic-lock"));
    backdate(ticket.path, 5_000);
    runSync(refresh(ticket), adapter.sync);
    assert.equal(adapter.calls.filter((c) => c === "touch").length, 0);
    ticket.touchedAt -= 1_000;
    runSync(refresh(ticket), adapter.sync);
    runSync(refresh(ticket), adapter.sync);
    assert.equal(adapter.calls.filter((c) => c === "touch").length, 1);
    assert.ok(Date.now() - fs.statSync(ticket.path).mtimeMs < 2_000);
    closeTickets();
  });
});

test("leave() removes the ticket, and the queue directory with the last one", async () => {
  await withTempDir((dir) => {
    const adapter = detectAdapter();
    const lock = lockIn(dir);
    const [first, second] = [1, 2].map(() => lineUp(adapter, lock));
    leaveLine(adapter, first);
    assert.deepEqual(names(first.queue), [second.name]);
    leaveLine(adapter, second);
    assert.equal(fs.existsSync(first.queue), false);
  });
});

test("join() makes no line in a shared sticky directory (another user could lead it anywhere)", async () => {
  await withTempDir((dir) => {
    const adapter = detectAdapter();
    const shared = path.join(dir, "shared");
    fs.mkdirSync(shared);
    fs.chmodSync(shared, 0o1777);
    const lock = path.join(shared, ".f.atomic-lock");
    assert.equal(runSync(join(adapter, lock), adapter.sync), null);
    assert.deepEqual(names(shared), []);
  });
});

for (const api of ["async", "sync"]) {
  test(`a waiter (${api}) that finds the lock taken waits in line, and nothing of the line is left once it took and released the lock`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "state.json");
      const queue = queuePathFor(lockPathOf(target));
      const go = path.join(dir, "go");
      const held = await lockFile(target);
      const child = startLockChild(runtimeName(), ["wait", target, api, go]);
      try {
        await until("the waiter lines up", () => names(queue).length === 1);
        await held.release();
        await child.waitFor((line) => line === "got");
        fs.writeFileSync(go, "");
        await child.waitFor((line) => line === "released");
        await child.ended;
        assert.deepEqual(names(dir), ["go"]);
      } finally {
        child.kill("SIGKILL");
        await held.release();
      }
    });
  });
}

test("a process that exits while it waits in line removes its own file, its ticket and the emptied line", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "state.json");
    const queue = queuePathFor(lockPathOf(target));
    const held = await lockFile(target);
    try {
      const before = names(dir);
      const child = startLockChild(runtimeName(), [
        "exit-waiting",
        target,
        queue,
      ]);
      const end = await child.ended;
      assert.equal(end.code, 0, child.stderr());
      assert.deepEqual(names(dir), before);
    } finally {
      await held.release();
    }
  });
});

test("a waiter removes the ticket of a waiter ahead of it that was killed, and still takes the lock", async (t) => {
  if (!isKnownWriter(detectAdapter().writer())) {
    skipTest(t, "this runtime cannot prove a writer gone here (no /proc)");
    return;
  }
  await withTempDir(async (dir) => {
    const target = path.join(dir, "state.json");
    const queue = queuePathFor(lockPathOf(target));
    const go = path.join(dir, "go");
    const held = await lockFile(target);
    const first = startLockChild(runtimeName(), ["wait", target, "async", go]);
    let second: ReturnType<typeof startLockChild> | null = null;
    try {
      await until("the first waiter lines up", () => names(queue).length === 1);
      const [killed] = names(queue);
      second = startLockChild(runtimeName(), ["wait", target, "async", go]);
      await until("the second lines up", () => names(queue).length === 2);
      first.kill("SIGKILL");
      await first.ended;
      await until(
        "the second waiter removes the killed one's ticket",
        () => !names(queue).includes(killed),
      );
      assert.equal(names(queue).length, 1);
      await held.release();
      fs.writeFileSync(go, "");
      await second.waitFor((line) => line === "released");
      await second.ended;
      assert.equal(fs.existsSync(queue), false);
    } finally {
      first.kill("SIGKILL");
      second?.kill("SIGKILL");
      await held.release();
    }
  });
});

test("removeStaleTemps() removes a dead waiter's ticket and the queue directory it leaves empty", async () => {
  await withTempDir(async (dir) => {
    const queue = queuePathFor(path.join(dir, ".f.atomic-lock"));
    const ticket = earlyTicket(queue, writer(DEAD_PID));
    backdate(ticket, 2 * HOUR);
    const removed = await using(deadIsGone(), () => removeStaleTemps(dir));
    assert.deepEqual(removed, [ticket, queue]);
    assert.deepEqual(names(dir), []);
  });
});

test("removeStaleTemps() leaves a queue directory in a shared sticky directory alone (the lock makes no line there: another user may have)", async () => {
  await withTempDir(async (dir) => {
    const shared = path.join(dir, "shared");
    fs.mkdirSync(shared);
    fs.chmodSync(shared, 0o1777);
    const queue = queuePathFor(path.join(shared, ".f.atomic-lock"));
    const ticket = earlyTicket(queue, writer(DEAD_PID));
    backdate(ticket, 2 * HOUR);
    const removed = await using(deadIsGone(), () => removeStaleTemps(shared));
    assert.deepEqual(removed, []);
    assert.deepEqual(names(queue), [path.basename(ticket)]);
  });
});

test(
  "removeStaleTemps() does not go into a queue directory in a directory another user owns (they could swap it for a link)",
  {
    skip: process.getuid?.() !== 0 && "needs root to give the directory away",
  },
  async () => {
    await withTempDir(async (dir) => {
      const theirs = path.join(dir, "theirs");
      fs.mkdirSync(theirs);
      fs.chownSync(theirs, NOBODY, NOBODY);
      const queue = queuePathFor(path.join(theirs, ".f.atomic-lock"));
      const ticket = earlyTicket(queue, writer(DEAD_PID));
      backdate(ticket, 2 * HOUR);
      const removed = await using(deadIsGone(), () => removeStaleTemps(theirs));
      assert.deepEqual(removed, []);
      assert.deepEqual(names(queue), [path.basename(ticket)]);
    });
  },
);

test(
  "removeStaleTemps() does not go into another user's queue directory, nor into one in a directory others may write",
  {
    skip: process.getuid?.() !== 0 && "needs root to give files away",
  },
  async () => {
    await withTempDir(async (dir) => {
      const queue = queuePathFor(path.join(dir, ".f.atomic-lock"));
      const ticket = earlyTicket(queue, writer(DEAD_PID));
      backdate(ticket, 2 * HOUR);
      fs.chownSync(queue, NOBODY, NOBODY);
      assert.deepEqual(
        await using(deadIsGone(), () => removeStaleTemps(dir)),
        [],
      );
      fs.chownSync(queue, 0, 0);
      fs.chmodSync(dir, 0o777);
      assert.deepEqual(
        await using(deadIsGone(), () => removeStaleTemps(dir)),
        [],
      );
      assert.deepEqual(names(queue), [path.basename(ticket)]);
    });
  },
);

test("removeStaleTemps() skips a queue directory it cannot read, or that went meanwhile, and sweeps the rest", async () => {
  for (const code of ["EACCES", "ENOENT"]) {
    await withTempDir(async (dir) => {
      const queue = queuePathFor(path.join(dir, ".a.atomic-lock"));
      earlyTicket(queue, writer(DEAD_PID));
      const stale = path.join(dir, tempName("z.json", writer(DEAD_PID)));
      fs.writeFileSync(stale, "");
      backdate(stale, 2 * HOUR);
      const adapter = faultAdapter(
        [{ op: "readDir", code, where: (args) => args[0] === queue }],
        { writerState: (w) => w.pid === DEAD_PID ? "gone" : "alive" },
      );
      const removed = await using(adapter, () => removeStaleTemps(dir));
      assert.deepEqual(removed, [stale], code);
    });
  }
});

test("removeStaleTemps() keeps a live waiter's ticket and its queue directory", async () => {
  await withTempDir(async (dir) => {
    const queue = queuePathFor(path.join(dir, ".f.atomic-lock"));
    const ticket = earlyTicket(queue, writer(1));
    backdate(ticket, 2 * HOUR);
    const removed = await using(deadIsGone(), () => removeStaleTemps(dir));
    assert.deepEqual(removed, []);
    assert.deepEqual(names(queue), [path.basename(ticket)]);
  });
});
