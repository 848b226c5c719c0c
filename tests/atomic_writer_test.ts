/** AtomicWriter: coalescing bursts of writes to one file. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { AtomicWriteError, AtomicWriter, writeFileAtomic } from "../mod.ts";
import {
  faultAdapter,
  read,
  root,
  scriptCommand,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { shared } from "../src/_shared_state.ts";

test("AtomicWriter.write() turns a burst of 100 writes into at most two, and the last data wins", async () => {
  await withTempDir(async (dir) => {
    const adapter = faultAdapter([]);
    await using(adapter, async () => {
      const writer = new AtomicWriter(path.join(dir, "db.json"));
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => writer.write(`{"n":${i}}`)),
      );
    });
    assert.equal(read(path.join(dir, "db.json")), '{"n":99}');
    const renames = adapter.calls.filter((c) => c.startsWith("rename"));
    assert.ok(renames.length <= 2, `${renames.length} writes`);
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("AtomicWriter.write() resolves only once data at least as new is in the file", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "n");
    const writer = new AtomicWriter(file);
    const seen: [number, number][] = [];
    await Promise.all(
      Array.from(
        { length: 50 },
        (_, i) =>
          writer.write(String(i)).then(() =>
            seen.push([i, Number(read(file))])
          ),
      ),
    );
    for (const [mine, onDisk] of seen) {
      assert.ok(onDisk >= mine, `caller ${mine} saw ${onDisk}`);
    }
  });
});

test("AtomicWriter.write() rejects the callers of a failed write and still writes newer data", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const adapter = faultAdapter([{ op: "write", code: "ENOSPC", times: 1 }]);
    await using(adapter, async () => {
      const writer = new AtomicWriter(file);
      const first = writer.write("first");
      const second = writer.write("second");
      await assert.rejects(
        first,
        (e) => e instanceof AtomicWriteError && e.code === "ENOSPC",
      );
      await second;
    });
    assert.equal(read(file), "second");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("AtomicWriter.write() copies its data, so the caller may reuse its buffer", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const writer = new AtomicWriter(file);
    const buffer = new TextEncoder().encode("first");
    void writer.write("zero");
    const pending = writer.write(buffer);
    buffer.fill(88);
    await pending;
    assert.equal(read(file), "first");
  });
});

test("AtomicWriter.flush() waits until every write has settled", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const writer = new AtomicWriter(file);
    for (let i = 0; i < 10; i++) void writer.write(`v${i}`);
    await writer.flush();
    assert.equal(read(file), "v9");
  });
});

test("AtomicWriter.flush() rejects with the error of the newest write when it failed", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const adapter = faultAdapter([{ op: "rename", code: "EACCES" }]);
    await using(adapter, async () => {
      const writer = new AtomicWriter(file);
      void writer.write("lost");
      await assert.rejects(
        writer.flush(),
        (e) => e instanceof AtomicWriteError && e.code === "EACCES",
      );
    });
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("AtomicWriter.flush() resolves when a newer write succeeded after a failed one", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const adapter = faultAdapter([{ op: "write", code: "ENOSPC", times: 1 }]);
    await using(adapter, async () => {
      const writer = new AtomicWriter(file);
      void writer.write("first");
      void writer.write("second");
      await writer.flush();
    });
    assert.equal(read(file), "second");
  });
});

test("AtomicWriter.flush() after a write that is not awaited reports its failure instead of crashing the process", () => {
  // A child process: an unhandled rejection ends it on Deno and Node.
  const target = path.join(root, "no such directory", "db.json");
  const [exe, ...args] = scriptCommand(path.join(root, "tests", "_child.ts"), [
    "flush",
    target,
  ]);
  const child = spawnSync(exe, args, { encoding: "utf8", timeout: 60_000 });
  assert.equal(child.stdout, "flush rejected ENOENT\nalive\n", child.stderr);
  assert.equal(child.status, 0, child.stderr);
});

test("AtomicWriter.flush() after a write() of data of the wrong type that is not awaited rejects with its TypeError instead of crashing the process", async () => {
  await withTempDir((dir) => {
    const [exe, ...args] = scriptCommand(
      path.join(root, "tests", "_child.ts"),
      ["flush", path.join(dir, "f.json"), "bad-data"],
    );
    const child = spawnSync(exe, args, { encoding: "utf8", timeout: 60_000 });
    assert.equal(
      child.stdout,
      "flush rejected TypeError\nalive\n",
      child.stderr,
    );
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("AtomicWriter.flush() resolves once a later write() of good data succeeded after one of data of the wrong type", async () => {
  await withTempDir(async (dir) => {
    const writer = new AtomicWriter(path.join(dir, "f.json"));
    await assert.rejects(writer.write(undefined as never), TypeError);
    await writer.write("{}");
    await writer.flush();
    assert.equal(read(path.join(dir, "f.json")), "{}");
  });
});

/** Calls made in this order on one file: by writer `a` or `b`, or by `writeFileAtomic` (`w`). */
const orders: { name: string; calls: string[] }[] = [
  {
    name: "another AtomicWriter's later write() wins over data still pending",
    calls: ["a:1", "a:2", "b:1"],
  },
  {
    name: "a later writeFileAtomic() wins over data still pending",
    calls: ["a:1", "a:2", "w:1"],
  },
  {
    name: "pending data moves behind other writers with each newer write()",
    calls: ["a:1", "a:2", "b:1", "a:3"],
  },
  {
    name: "the last call wins whichever writer made it",
    calls: ["a:1", "b:1", "a:2", "b:2", "w:1", "a:3", "b:3", "w:2"],
  },
];

for (const { name, calls } of orders) {
  test(`AtomicWriter.write() keeps call order across writers on one file: ${name}`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const writers = { a: new AtomicWriter(file), b: new AtomicWriter(file) };
      const settled = calls.map((call) => {
        const [who] = call.split(":");
        return who === "w"
          ? writeFileAtomic(file, call)
          : writers[who as "a" | "b"].write(call);
      });
      await Promise.all(settled);
      assert.equal(read(file), calls.at(-1));
      assert.deepEqual(tempsIn(dir), []);
    });
  });
}

test("AtomicWriter.write() rejects with a TypeError for data of the wrong type", async () => {
  const writer = new AtomicWriter("unused");
  await assert.rejects(writer.write(1 as unknown as string), TypeError);
});

test("new AtomicWriter() throws a RangeError for a bad mode, before any write", () => {
  assert.throws(() => new AtomicWriter("f", { mode: 0o10000 }), RangeError);
});

test("new AtomicWriter() throws a TypeError for a signal option", () => {
  assert.throws(
    () => new AtomicWriter("f", { signal: AbortSignal.abort() } as never),
    TypeError,
  );
});

test("AtomicWriter.write() in a burst with no other write between takes no new place per call", async () => {
  await withTempDir(async (dir) => {
    const writer = new AtomicWriter(path.join(dir, "state.json"));
    const writes = shared("writes", () => {
      throw new Error("no write has taken a place yet");
    });
    void writer.write("0"); // in flight; the next ones wait in the writer
    const before = writes.called;
    const saves = [];
    for (let i = 1; i <= 1000; i++) saves.push(writer.write(`${i}`));
    assert.equal(writes.called - before, 1, "one place for the whole burst");
    await Promise.all(saves);
    assert.equal(read(path.join(dir, "state.json")), "1000");
  });
});

test("AtomicWriter.write() data waiting in the writer still moves behind a write called since", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "state.json");
    const writer = new AtomicWriter(target);
    void writer.write("0"); // in flight
    void writer.write("1"); // waits in the writer
    const other = writeFileAtomic(target, "other");
    const last = writer.write("2"); // moves behind the other write
    await Promise.all([other, last]);
    assert.equal(read(target), "2");
  });
});

test("new AtomicWriter() throws the library's TypeError for null options", () => {
  assert.throws(
    () => new AtomicWriter("f", null as never),
    (e) =>
      e instanceof TypeError &&
      e.message === "Cannot use options: expected an object, got null",
  );
});

test("AtomicWriter.flush() resolves once the data written before it is in place, while writes keep coming", async () => {
  await withTempDir(async (dir) => {
    const writer = new AtomicWriter(path.join(dir, "state.json"));
    let n = 0;
    const busy = setInterval(() => void writer.write(`${++n}`), 1);
    try {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const asked = n;
      const outcome = await Promise.race([
        writer.flush().then(() => "flushed"),
        new Promise((resolve) => setTimeout(resolve, 5_000, "still waiting")),
      ]);
      assert.equal(outcome, "flushed");
      const written = Number(
        fs.readFileSync(path.join(dir, "state.json"), "utf8"),
      );
      assert.ok(written >= asked, `${written} is older than ${asked}`);
    } finally {
      clearInterval(busy);
      await writer.flush();
    }
  });
});

test("AtomicWriter.flush() reports the data written before it, not a refused write() called after it", async () => {
  await withTempDir(async (dir) => {
    const writer = new AtomicWriter(path.join(dir, "state.json"));
    void writer.write("good");
    const flushed = writer.flush();
    writer.write(12345 as unknown as string).catch(() => {});
    await flushed;
    assert.equal(fs.readFileSync(path.join(dir, "state.json"), "utf8"), "good");
  });
});

for (
  const [api, says] of [
    ["stream", "cancelled\nrejected ENOENT\n"],
    ["generator", "rejected ENOENT\n"],
  ]
) {
  test(
    `a write with a signal that fails before its ${api} gives a chunk keeps nothing alive${
      api === "stream" ? ", and cancels the stream" : ""
    }`,
    async () => {
      await withTempDir((dir) => {
        const [exe, ...args] = scriptCommand(
          path.join(root, "tests", "_child.ts"),
          ["fail-stalled", dir, api],
        );
        const child = spawnSync(exe, args, {
          encoding: "utf8",
          timeout: 30_000,
        });
        assert.equal(child.status, 0, "ended by itself");
        assert.equal(child.stdout, says, child.stderr);
      });
    },
  );
}

for (const api of ["stream", "callback"]) {
  test(`a write from a ${api} that never ends rejects at AbortSignal.timeout() on every runtime, rather than the process exiting first`, async () => {
    await withTempDir((dir) => {
      // A child process: with nothing else to do, Node would end the
      // process (its AbortSignal.timeout() keeps nothing alive).
      const [exe, ...args] = scriptCommand(
        path.join(root, "tests", "_child.ts"),
        ["stall", path.join(dir, "f"), api],
      );
      const child = spawnSync(exe, args, {
        encoding: "utf8",
        timeout: 60_000,
      });
      assert.equal(child.stdout, "rejected TimeoutError\n", child.stderr);
      assert.equal(child.status, 0, child.stderr);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}
