/** @x/atomic/compat/atomically: the package's behaviour, through every calling form. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { Buffer } from "node:buffer";
import {
  readFile,
  readFileSync,
  writeFile,
  writeFileSync,
} from "../src/compat/atomically.ts";
import { AtomicWriteError, writeFileAtomic } from "../mod.ts";
import {
  failsWith,
  faultAdapter,
  read,
  settlesWithin,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { hasCommand, sh } from "./_commands.ts";
import { FAKE_SIGNAL, fakeSignal } from "./_options.ts";
import { bindFile, mountProblem } from "./_mounts.ts";
import { clocks } from "../src/_clock.ts";
import {
  callbackCases,
  formsOf,
  modeOf,
  oneAtATimeCases,
  orderCase,
  plainMode,
  sharedCases,
} from "./_compat.ts";

const forms = formsOf("atomically", writeFile, writeFileSync);
callbackCases("atomically", writeFile as never, "tmpCreated");
for (const form of forms) {
  sharedCases(form);
  orderCase(form);
  oneAtATimeCases(form, "tmpCreated", writeFileSync);

  test(`${form.name} with mode 0o666 gives what a plain create gives, even over a 0600 file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      await form.write(file, "a", { mode: 0o666 });
      assert.equal(modeOf(file), plainMode(dir));
      fs.chmodSync(file, 0o600);
      await form.write(file, "b", { mode: 0o666 });
      assert.equal(modeOf(file), plainMode(dir));
    });
  });

  // A deviation the README lists: atomically reads null as a plain create.
  test(`${form.name} with mode: null keeps the existing file's bits, as with no mode`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "a");
      fs.chmodSync(file, 0o600);
      await form.write(file, "b", { mode: null });
      assert.equal(modeOf(file), 0o600);
    });
  });

  test(`${form.name} creates missing parent directories`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "a", "b", "f");
      await form.write(file, "x");
      assert.equal(read(file), "x");
    });
  });

  test(`${form.name} calls tmpCreated with the temporary file before the rename`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const seen: [string, boolean][] = [];
      await form.write(file, "x", {
        tmpCreated: (tmp: string) =>
          void seen.push([path.dirname(tmp), fs.existsSync(tmp)]),
      });
      assert.deepEqual(seen, [[dir, true]]);
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${form.name} calls tmpCreated when a write fails after the temporary file exists, not when it could not be made`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const seen: string[] = [];
      const tmpCreated = (tmp: string) => void seen.push(tmp);
      const failedWrite = faultAdapter([{ op: "write", code: "EIO" }]);
      await assert.rejects(
        using(failedWrite, () => form.write(file, "x", { tmpCreated })),
      );
      assert.equal(seen.length, 1);
      const failedCreate = faultAdapter([
        { op: "createExclusive", code: "EROFS" },
      ]);
      await assert.rejects(
        using(failedCreate, () => form.write(file, "x", { tmpCreated })),
      );
      assert.equal(seen.length, 1);
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${form.name} ${form.fails} with a TypeError for tmpCreate and for tmpPurge: false`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      await assert.rejects(
        form.write(file, "x", { tmpCreate: (p: string) => `${p}.tmp` }),
        /"tmpCreate": temporary names are chosen by @x\/atomic/,
      );
      await assert.rejects(
        form.write(file, "x", { tmpPurge: false }),
        /"tmpPurge": a failed write always removes/,
      );
      assert.deepEqual(fs.readdirSync(dir), []);
      await form.write(file, "x", { tmpPurge: true, fsyncWait: false });
      assert.equal(read(file), "x");
    });
  });

  test(`${form.name} retries a transient failure until it succeeds`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const adapter = faultAdapter([
        { op: "createExclusive", code: "EBUSY", times: 3 },
      ]);
      await using(adapter, () => form.write(file, "x"));
      assert.equal(read(file), "x");
      assert.equal(adapter.sleeps.length >= 1, true);
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${form.name} retries the look at its target while its directory cannot be searched for a moment`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      // EACCES from the lstat: a directory without search permission.
      const adapter = faultAdapter([
        { op: "lstat", code: "EACCES", times: 2, where: ([p]) => p === file },
      ]);
      await using(adapter, () => form.write(file, "x"));
      assert.equal(read(file), "x");
      assert.ok(adapter.sleeps.length >= 2, JSON.stringify(adapter.sleeps));
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${form.name} with timeout: null retries a transient failure, as with the default timeout`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const adapter = faultAdapter([
        { op: "createExclusive", code: "EBUSY", times: 2 },
      ]);
      await using(adapter, () => form.write(file, "x", { timeout: null }));
      assert.equal(read(file), "x");
      assert.ok(adapter.sleeps.length >= 1, JSON.stringify(adapter.sleeps));
    });
  });

  test(`${form.name} with timeout: 0 ${form.fails} at the first transient failure`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const adapter = faultAdapter([
        { op: "createExclusive", code: "EBUSY", times: 1 },
      ]);
      const error = await using(
        adapter,
        () => form.write(file, "x", { timeout: 0 }),
      ).then(() => null, (e) => e);
      assert.ok(error instanceof AtomicWriteError);
      assert.equal(error.code, "EBUSY");
      assert.equal(fs.existsSync(file), false);
    });
  });

  test(`${form.name} retries the failed operation within one write, so at most one temporary file stays`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      // As in an append-only directory: nothing can be renamed or removed.
      const adapter = faultAdapter([
        { op: "rename", code: "EPERM" },
        { op: "remove", code: "EPERM" },
      ]);
      await failsWith(
        using(adapter, () => form.write(file, "new", { timeout: 50 })),
        "EPERM",
      );
      assert.equal(tempsIn(dir).length, 1);
      assert.equal(adapter.calls.filter((c) => c === "write").length, 1);
      assert.ok(adapter.calls.filter((c) => c.startsWith("rename")).length > 1);
      assert.equal(read(file), "old");
    });
  });

  test(`${form.name} writes no byte twice when a write fails transiently after a short one`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const data = "b".repeat(10_000);
      const adapter = faultAdapter([
        { op: "write", code: "EAGAIN", shortWrite: 4096, times: 2 },
      ]);
      await using(adapter, () => form.write(file, data));
      assert.equal(read(file), data);
      assert.equal(adapter.calls.filter((c) => c === "write").length, 3);
    });
  });

  test(
    `${form.name} in an append-only directory ${form.fails} with EPERM and leaves one temporary file`,
    {
      skip: mountProblem() ??
        (hasCommand("chattr") ? false : "chattr is not installed"),
    },
    async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "f");
        fs.writeFileSync(file, "old");
        sh("chattr", "+a", dir);
        try {
          await failsWith(form.write(file, "new", { timeout: 300 }), "EPERM");
          assert.equal(tempsIn(dir).length, 1);
        } finally {
          sh("chattr", "-a", dir);
        }
        assert.equal(read(file), "old");
      });
    },
  );

  test(`${form.name} gives up after timeout ms on the monotonic clock, whatever the wall clock says`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      // The wall clock stands still (an NTP step back); the monotonic one
      // moves on 100 ms per reading. 50 failures are more than the 300 ms
      // allow, and fewer than a deadline on the wall clock would.
      const adapter = faultAdapter([{
        op: "rename",
        code: "EBUSY",
        times: 50,
      }]);
      const { wall, monotonic } = clocks;
      let now = monotonic();
      clocks.wall = () => 0;
      clocks.monotonic = () => (now += 100);
      try {
        await failsWith(
          using(adapter, () => form.write(file, "new", { timeout: 300 })),
          "EBUSY",
        );
      } finally {
        Object.assign(clocks, { wall, monotonic });
      }
      assert.ok(adapter.sleeps.length <= 5, JSON.stringify(adapter.sleeps));
      assert.equal(read(file), "old");
    });
  });

  test(`${form.name} does not retry a failure that is not transient`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const adapter = faultAdapter([{ op: "write", code: "ENOSPC" }]);
      await assert.rejects(using(adapter, () => form.write(file, "x")));
      assert.deepEqual(adapter.sleeps, []);
    });
  });
}

test("atomically writeFile() runs the schedule function first and its disposer last", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const events: string[] = [];
    await writeFile(file, "x", {
      schedule: (filePath) => {
        events.push(`schedule ${path.basename(filePath)}`);
        return Promise.resolve(() => {
          events.push(`dispose, file holds ${read(file)}`);
        });
      },
    });
    assert.deepEqual(events, ["schedule f", "dispose, file holds x"]);
  });
});

test("atomically writeFile() with a schedule takes its place in call order once the schedule resolves", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const go = Promise.withResolvers<() => void>();
    const scheduled = writeFile(file, "scheduled, called first", {
      schedule: () => go.promise,
    });
    await writeFileAtomic(file, "core, called before it resolves");
    go.resolve(() => {});
    await scheduled;
    assert.equal(read(file), "scheduled, called first");
  });
});

test("atomically writeFile() with a schedule that never resolves holds no other write back", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    void writeFile(file, "never", { schedule: () => new Promise(() => {}) });
    const later = Promise.all([
      writeFileAtomic(file, "core"),
      writeFile(file, "compat"),
      writeFileAtomic(path.join(dir, "other"), "other"),
    ]);
    const outcome = await settlesWithin(later, 5000);
    assert.equal(outcome, "settled");
    assert.equal(read(file), "compat");
  });
});

test("atomically writeFileSync() throws a TypeError for schedule, which it cannot wait for", async () => {
  await withTempDir((dir) => {
    assert.throws(
      () =>
        writeFileSync(path.join(dir, "f"), "x", {
          schedule: () => Promise.resolve(() => {}),
        }),
      /"schedule" with writeFileSync/,
    );
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("atomically writeFile() writes a readable stream", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    await writeFile(file, Readable.from([Buffer.from("a"), Buffer.from("b")]));
    assert.equal(read(file), "ab");
  });
});

test("atomically writeFile() writes a readable stream's strings as UTF-8 whatever the encoding, as the package does", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    await writeFile(file, Readable.from(["€", "ab"]), { encoding: "latin1" });
    assert.equal(read(file), "€ab");
  });
});

test("atomically writeFile() retries a failed rename without reading a stream again", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    fs.writeFileSync(file, "OLD");
    const adapter = faultAdapter([{ op: "rename", code: "EBUSY", times: 2 }]);
    const stream = Readable.from([Buffer.from("NEW-"), Buffer.from("CONTENT")]);
    await using(adapter, () => writeFile(file, stream));
    assert.equal(read(file), "NEW-CONTENT");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test(
  "atomically writeFile() writes a stream over a target kept busy by a bind mount until it is unmounted",
  {
    skip: mountProblem() ?? false,
  },
  async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const other = path.join(dir, "other");
      fs.writeFileSync(file, "OLD");
      fs.writeFileSync(other, "OTHER");
      const bound = bindFile(other, file);
      try {
        // rename(2) onto a mount point fails with EBUSY until the unmount.
        const unmounted = new Promise((resolve) =>
          setTimeout(() => resolve(bound.close()), 300)
        );
        const stream = Readable.from([
          Buffer.from("NEW-"),
          Buffer.from("CONTENT"),
        ]);
        await writeFile(file, stream);
        await unmounted;
      } finally {
        bound.close();
      }
      assert.equal(read(file), "NEW-CONTENT");
      assert.equal(read(other), "OTHER");
      assert.deepEqual(tempsIn(dir), []);
    });
  },
);

test("atomically writeFile() keeps its place among writes to the file while it retries", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const adapter = faultAdapter([{ op: "rename", code: "EBUSY", times: 1 }]);
    await using(adapter, async () => {
      const first = writeFile(file, "A");
      const second = writeFile(file, "B");
      await Promise.all([first, second]);
    });
    assert.equal(read(file), "B");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("atomically writeFile() with a callback still returns the promise", async () => {
  await withTempDir(async (dir) => {
    let called = 0;
    const promise = writeFile(path.join(dir, "missing", "x", "f"), "x", {
      timeout: 0,
    }, () => called++);
    await promise;
    assert.equal(called, 1);
    assert.equal(read(path.join(dir, "missing", "x", "f")), "x");
  });
});

test("atomically readFile() and readFileSync() give text with an encoding and a Buffer without", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    writeFileSync(file, "é");
    assert.equal(await readFile(file, "utf8"), "é");
    assert.equal(readFileSync(file, { encoding: "latin1" }), "Ã©");
    assert.deepEqual(await readFile(file), Buffer.from("é"));
    assert.deepEqual(readFileSync(file, { timeout: 0 }), Buffer.from("é"));
    assert.deepEqual(readFileSync(file, { timeout: null }), Buffer.from("é"));
    assert.equal(
      await readFile(file, { encoding: "utf8", timeout: null }),
      "é",
    );
    assert.throws(
      () => readFileSync(file, { flags: "r" } as never),
      /unknown option "flags"/,
    );
  });
});

test("atomically readFile() and readFileSync() open the file with the flag given, as fs.readFile does", async () => {
  await withTempDir(async (dir) => {
    const [a, b] = [path.join(dir, "a"), path.join(dir, "b")];
    // "a+" creates a missing file, where "r" fails with ENOENT.
    assert.equal(await readFile(a, { encoding: "utf8", flag: "a+" }), "");
    assert.equal(readFileSync(b, { encoding: "utf8", flag: "a+" }), "");
    assert.deepEqual(fs.readdirSync(dir).sort(), ["a", "b"]);
    writeFileSync(a, "é");
    assert.equal(await readFile(a, { encoding: "utf8", flag: "r" }), "é");
  });
});

test("atomically readFile() rejects with an AbortError for an aborted signal, as fs.readFile does, and readFileSync() ignores it", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    writeFileSync(file, "é");
    const signal = AbortSignal.abort();
    const error = await readFile(file, { encoding: "utf8", signal }).then(
      () => null,
      (e) => e,
    );
    assert.equal((error as Error | null)?.name, "AbortError");
    assert.equal(readFileSync(file, { encoding: "utf8", signal }), "é");
  });
});

test("atomically readFile() rejects with its own TypeError for a signal the runtime did not make", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    writeFileSync(file, "é");
    const error = await readFile(file, { signal: fakeSignal() }).then(
      () => null,
      (e) => e,
    );
    assert.ok(error instanceof TypeError, String(error));
    assert.match(error.message, FAKE_SIGNAL);
  });
});

test("atomically readFile() and readFileSync() give a Buffer for an empty encoding, as fs.readFile does", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    writeFileSync(file, "é");
    // Untyped callers pass it (the types, as the package's, name encodings).
    assert.deepEqual(await readFile(file, "" as never), Buffer.from("é"));
    assert.deepEqual(
      readFileSync(file, { encoding: "" } as never),
      Buffer.from("é"),
    );
  });
});

for (const form of forms) {
  test(`${form.name} ${form.fails} as fs.writeFile does (ERR_INVALID_ARG_TYPE) for an array, a Set, a generator, an ArrayBuffer and a boolean, and writes nothing`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      function* lines() {
        yield "a";
      }
      const data = [["a"], new Set(["a"]), lines(), new ArrayBuffer(1), true];
      for (const value of data) {
        await assert.rejects(
          form.write(file, value as never),
          (e) =>
            e instanceof TypeError && "code" in e &&
            e.code === "ERR_INVALID_ARG_TYPE",
        );
      }
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}

test("atomically readFile() of a descriptor that is not open rejects as fs.readFile does, and the process goes on", async () => {
  const notOpen = 987_654;
  // EBADF; Node's own fs.readFile fails it with ERR_INVALID_ARG_TYPE.
  const expected = await new Promise((resolve) =>
    fs.readFile(notOpen, (error) => resolve(error?.code))
  );
  await assert.rejects(
    readFile(notOpen as unknown as string, { timeout: 0 }),
    (error: NodeJS.ErrnoException) => error.code === expected,
  );
});

test("atomically writeFile() passes its callback an error whose code and message type-check without a cast", async () => {
  await withTempDir(async (dir) => {
    const seen: string[] = [];
    // A directory cannot be replaced by a file. The promise rejects too.
    await new Promise<void>((resolve) => {
      writeFile(dir, "x", (error) => {
        if (error) seen.push(`${error.code} ${typeof error.message}`);
        resolve();
      }).catch(() => {});
    });
    assert.deepEqual(seen, ["EISDIR string"]);
  });
});
