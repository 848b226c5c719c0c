/** openAtomic(): the handle and scope forms. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import {
  type AtomicFile,
  AtomicWriteError,
  openAtomic,
  writeFileAtomic,
} from "../mod.ts";
import {
  failsWith,
  faultAdapter,
  read,
  runtimeName,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { skipTest } from "./_skip.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

test("openAtomic() creates the temporary file beside the target when it resolves", async () => {
  await withTempDir(async (dir) => {
    const file = await openAtomic(path.join(dir, "out.txt"));
    try {
      const temps = tempsIn(dir);
      assert.equal(temps.length, 1);
      // `.{name}.{pid}[-{thread}-{start}-{host}]-{random}.atomic-tmp`
      assert.match(
        temps[0],
        /^\.out\.txt\.\d+(-\d+-[0-9a-z]+-[0-9a-f]{12})?-[0-9a-f]{12}\.atomic-tmp$/,
      );
      assert.equal(fs.existsSync(path.join(dir, "out.txt")), false);
    } finally {
      await file.abort();
    }
  });
});

test("openAtomic() returns a handle whose path is the absolute target", async () => {
  await withTempDir(async (dir) => {
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const file = await openAtomic("rel.txt");
      assert.equal(file.path, path.join(dir, "rel.txt"));
      await file.abort();
    } finally {
      process.chdir(cwd);
    }
  });
});

test("openAtomic() shows nothing at the target until commit()", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f.txt");
    fs.writeFileSync(target, "old");
    const file = await openAtomic(target);
    await file.write("new ");
    await file.write(bytes("content"));
    assert.equal(read(target), "old");
    await file.commit();
    assert.equal(read(target), "new content");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("openAtomic() lets readers read the old file while the new one is written", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f.txt");
    fs.writeFileSync(target, "old");
    const reader = fs.openSync(target, "r");
    const file = await openAtomic(target);
    await file.write("x".repeat(100_000));
    assert.equal(fs.readFileSync(target, "utf8"), "old");
    await file.commit();
    // The open descriptor still reads the old file; a new open sees the new one.
    assert.equal(fs.readFileSync(reader, "utf8"), "old");
    fs.closeSync(reader);
    assert.equal(read(target).length, 100_000);
  });
});

test("AtomicFile.commit() returns the same promise when called twice", async () => {
  await withTempDir(async (dir) => {
    const file = await openAtomic(path.join(dir, "f"));
    await file.write("once");
    const first = file.commit();
    assert.equal(file.commit(), first);
    await first;
    assert.equal(read(path.join(dir, "f")), "once");
  });
});

test("AtomicFile.commit() takes its place among writes to the path when it is called, not when the file was opened", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const file = await openAtomic(target);
    await file.write("handle");
    const earlier = writeFileAtomic(target, "called before commit");
    await Promise.all([file.commit(), earlier]);
    assert.equal(read(target), "handle");
  });
});

test("AtomicFile.abort() removes the temporary file and keeps the target", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const file = await openAtomic(target);
    await file.write("discarded");
    await file.abort();
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("AtomicFile.abort() can be called more than once", async () => {
  await withTempDir(async (dir) => {
    const file = await openAtomic(path.join(dir, "f"));
    await Promise.all([file.abort(), file.abort()]);
    await file.abort();
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("AtomicFile.abort() after commit() leaves the committed file alone", async () => {
  await withTempDir(async (dir) => {
    const file = await openAtomic(path.join(dir, "f"));
    await file.write("kept");
    await file.commit();
    await file.abort();
    assert.equal(read(path.join(dir, "f")), "kept");
  });
});

test("AtomicFile.write() rejects with EBADF after commit()", async () => {
  await withTempDir(async (dir) => {
    const file = await openAtomic(path.join(dir, "f"));
    await file.commit();
    await assert.rejects(
      file.write("late"),
      (error) => error instanceof AtomicWriteError && error.code === "EBADF",
    );
  });
});

test("AtomicFile.write() and commit() reject with ECANCELED after abort(), each naming itself", async () => {
  await withTempDir(async (dir) => {
    const file = await openAtomic(path.join(dir, "f"));
    await file.abort();
    const canceled = (operation: string) => (error: unknown) =>
      error instanceof AtomicWriteError && error.code === "ECANCELED" &&
      error.operation === operation;
    await assert.rejects(file.write("late"), canceled("write"));
    await assert.rejects(file.commit(), canceled("commit"));
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("AtomicFile.write() rejects with a TypeError for a chunk of the wrong type", async () => {
  await withTempDir(async (dir) => {
    const file = await openAtomic(path.join(dir, "f"));
    await assert.rejects(file.write(42 as unknown as string), TypeError);
    await file.abort();
  });
});

test("AtomicFile[Symbol.asyncDispose]() discards an uncommitted file", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const file = await openAtomic(target);
    await file.write("never seen");
    await file[Symbol.asyncDispose]();
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("AtomicFile[Symbol.asyncDispose]() keeps a committed file", async () => {
  await withTempDir(async (dir) => {
    const file = await openAtomic(path.join(dir, "f"));
    await file.write("kept");
    await file.commit();
    await file[Symbol.asyncDispose]();
    assert.equal(read(path.join(dir, "f")), "kept");
  });
});

test("AtomicFile[Symbol.asyncDispose]() waits for a commit under way, which it does not stop", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    let committing: Promise<void> | undefined;
    let disposing: PromiseLike<void> | undefined;
    await behindStalledWrite(target, async () => {
      const file = await openAtomic(target);
      await file.write("new");
      committing = file.commit(); // waits for its turn
      disposing = file[Symbol.asyncDispose]();
    });
    await disposing;
    await committing;
    assert.equal(read(target), "new");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("openAtomic() works with `await using` where the runtime parses it", async (t) => {
  let scope: { disposeWithoutCommit(p: string): Promise<string[]> };
  try {
    scope = await import("./_await_using.ts");
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    skipTest(
      t,
      `${runtimeName()} ${process.version} cannot parse \`await using\``,
    );
    return;
  }
  await withTempDir(async (dir) => {
    const seen = await scope.disposeWithoutCommit(path.join(dir, "f"));
    assert.equal(seen.length, 1, "the temp existed inside the scope");
    assert.deepEqual(fs.readdirSync(dir), [], "and is gone after it");
  });
});

test("AtomicFile.writable commits when the stream closes", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const file = await openAtomic(target);
    const source = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of ["a", "b", "c"]) controller.enqueue(bytes(part));
        controller.close();
      },
    });
    await source.pipeTo(file.writable);
    assert.equal(read(target), "abc");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("AtomicFile.writable discards when the source stream errors mid-way", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const file = await openAtomic(target);
    const boom = new Error("upstream failed");
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(bytes("partial"));
        controller.error(boom);
      },
    });
    await assert.rejects(source.pipeTo(file.writable), (e) => e === boom);
    await file.abort();
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("AtomicFile.writable discards the file when a chunk of the wrong type is written, so no later commit() publishes a part", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const file = await openAtomic(target);
    const source = ReadableStream.from<unknown>([bytes("partial"), 42]);
    await assert.rejects(
      source.pipeTo(file.writable as WritableStream<unknown>),
      TypeError,
    );
    assert.deepEqual(tempsIn(dir), []);
    await assert.rejects(
      file.commit(),
      (e) => e instanceof AtomicWriteError && e.code === "ECANCELED",
    );
    assert.equal(read(target), "old");
  });
});

test("AtomicFile.writable.abort() discards the file", async () => {
  await withTempDir(async (dir) => {
    const file = await openAtomic(path.join(dir, "f"));
    const writer = file.writable.getWriter();
    await writer.write(bytes("partial"));
    await writer.abort(new Error("no"));
    await file.abort();
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

for (const how of ["the signal", "abort()"] as const) {
  test(`AtomicFile.writable fails a pipe from a source gone quiet when ${how} aborts the file, which it discards`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      fs.writeFileSync(target, "old");
      const controller = new AbortController();
      const file = await openAtomic(target, { signal: controller.signal });
      let cancelled = false;
      const source = new ReadableStream<Uint8Array>({
        start(stream) {
          stream.enqueue(bytes("partial")); // then nothing, ever
        },
        cancel() {
          cancelled = true;
        },
      });
      const piped = source.pipeTo(file.writable);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const reason = new Error("stop");
      if (how === "the signal") controller.abort(reason);
      else void file.abort();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const never = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("never settled")), 5000);
      });
      await assert.rejects(
        Promise.race([piped, never]).finally(() => clearTimeout(timer)),
        (e) =>
          how === "the signal"
            ? e === reason
            : e instanceof AtomicWriteError && e.code === "ECANCELED",
      );
      assert.equal(cancelled, true);
      await file.abort();
      assert.equal(read(target), "old");
      assert.deepEqual(tempsIn(dir), []);
    });
  });
}

test("AtomicFile keeps the order of writes that are not awaited", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const file = await openAtomic(target);
    const big = "B".repeat(200_000);
    const pending = [file.write("a"), file.write(big), file.write("c")];
    await Promise.all(pending);
    await file.commit();
    assert.equal(read(target), "a" + big + "c");
  });
});

test("AtomicFile.write() copies small chunks, so the caller may reuse its buffer", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const file = await openAtomic(target);
    const buffer = bytes("first");
    await file.write(buffer);
    buffer.set(bytes("XXXXX"));
    await file.commit();
    assert.equal(read(target), "first");
  });
});

test("AtomicFile rejects with ENOSPC when the disk fills, removes the temp and fails later calls", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const adapter = faultAdapter([{ op: "write", code: "ENOSPC" }]);
    await using(adapter, async () => {
      const file = await openAtomic(target);
      const enospc = (e: unknown) =>
        e instanceof AtomicWriteError && e.code === "ENOSPC";
      await assert.rejects(file.write(new Uint8Array(1 << 20)), enospc);
      assert.deepEqual(tempsIn(dir), []);
      await assert.rejects(file.write("more"), enospc);
      await assert.rejects(file.commit(), enospc);
    });
    assert.equal(read(target), "old");
  });
});

test("AtomicFile.commit() rejects with a buffered write's error and keeps the target", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const adapter = faultAdapter([{ op: "write", code: "EIO" }]);
    await using(adapter, async () => {
      const file = await openAtomic(target);
      await file.write("small, buffered");
      await assert.rejects(
        file.commit(),
        (e) => e instanceof AtomicWriteError && e.code === "EIO",
      );
    });
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("openAtomic() removes the temporary file when the signal aborts while it is open", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const controller = new AbortController();
    const file = await openAtomic(target, { signal: controller.signal });
    await file.write("half");
    const reason = new Error("cancelled by user");
    controller.abort(reason);
    await file.abort(); // waits for the discard the signal started
    assert.deepEqual(tempsIn(dir), []);
    await assert.rejects(file.commit(), (e) => e === reason);
    await assert.rejects(file.write("x"), (e) => e === reason);
    assert.equal(read(target), "old");
  });
});

test("AtomicFile.commit() and write() after the signal aborted reject only once the temporary file is gone", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    for (const call of ["commit", "write"] as const) {
      const controller = new AbortController();
      const file = await openAtomic(target, { signal: controller.signal });
      await file.write("half");
      const reason = new Error("cancelled by user");
      controller.abort(reason);
      const settled = call === "commit" ? file.commit() : file.write("x");
      await assert.rejects(settled, (e) => e === reason);
      assert.deepEqual(tempsIn(dir), [], call);
    }
    assert.equal(read(target), "old");
  });
});

test("AtomicFile.write() in flight when the signal aborts rejects with the reason, once the temporary file is gone", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const controller = new AbortController();
    const reason = new Error("cancelled by user");
    const adapter = faultAdapter([]);
    const write = adapter.async.write;
    adapter.async.write = async (file, bytes) => {
      controller.abort(reason); // while the bytes are being written
      return await write(file, bytes);
    };
    await using(adapter, async () => {
      const file = await openAtomic(target, { signal: controller.signal });
      await assert.rejects(
        file.write(new Uint8Array(1 << 20)),
        (e) => e === reason,
      );
      assert.deepEqual(tempsIn(dir), []);
    });
    assert.equal(read(target), "old");
  });
});

test("openAtomic() rejects with the signal's reason when it aborts while the temporary file is made", async () => {
  await withTempDir(async (dir) => {
    const controller = new AbortController();
    const reason = new Error("changed my mind");
    const adapter = faultAdapter([]);
    const realLstat = adapter.async.lstat;
    adapter.async.lstat = async (path) => {
      controller.abort(reason); // abort while the temp is being created
      return await realLstat(path);
    };
    await using(adapter, async () => {
      await assert.rejects(
        openAtomic(path.join(dir, "f"), { signal: controller.signal }),
        (e) => e === reason,
      );
    });
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("openAtomic() rejects with the signal's reason when it aborts during commit, before the rename", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const controller = new AbortController();
    const reason = new Error("too late?");
    const adapter = faultAdapter([]);
    const realSync = adapter.async.sync;
    adapter.async.sync = async (file) => {
      controller.abort(reason); // abort while the fsync is in flight
      return await realSync(file);
    };
    await using(adapter, async () => {
      const file = await openAtomic(target, { signal: controller.signal });
      await file.write("new");
      await assert.rejects(file.commit(), (e) => e === reason);
    });
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("openAtomic() with a callback commits when it resolves and returns its value", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const result = await openAtomic(target, async (file: AtomicFile) => {
      await file.write("from scope");
      assert.equal(fs.existsSync(target), false);
      return 42;
    });
    assert.equal(result, 42);
    assert.equal(read(target), "from scope");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("openAtomic() with a callback discards and rethrows when it throws", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const boom = new Error("callback failed");
    await assert.rejects(
      openAtomic(target, async (file) => {
        await file.write("half-done");
        throw boom;
      }),
      (e) => e === boom,
    );
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("openAtomic() with a callback rejects with the signal's reason when it aborts inside the callback, after removing the temp", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const controller = new AbortController();
    const reason = new Error("stopped mid-callback");
    const adapter = faultAdapter([]);
    const realRemove = adapter.async.remove;
    adapter.async.remove = async (file) => {
      await new Promise((r) => setTimeout(r, 20)); // a slow removal must still finish first
      return await realRemove(file);
    };
    await using(adapter, async () => {
      await assert.rejects(
        openAtomic(target, async (file) => {
          await file.write("half");
          controller.abort(reason);
          return "done";
        }, { signal: controller.signal }),
        (e) => e === reason,
      );
      assert.deepEqual(tempsIn(dir), [], "the temp is gone when it settles");
    });
    assert.equal(read(target), "old");
  });
});

test("openAtomic() with a callback that aborts the file returns without committing", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const result = await openAtomic(target, async (file) => {
      await file.write("no");
      await file.abort();
      return "aborted";
    });
    assert.equal(result, "aborted");
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("openAtomic() rejects with a TypeError for options after a non-function", async () => {
  await assert.rejects(
    openAtomic("f", {} as never, {}),
    TypeError,
  );
});

test("openAtomic(path, fn, { signal }) rejects with the signal's reason when aborted while fn stalls, once the temporary file is gone", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const controller = new AbortController();
    const reason = new Error("gave up");
    const stalled = openAtomic(target, async (file) => {
      await file.write("new");
      await new Promise(() => {}); // waits for something that never comes
    }, { signal: controller.signal });
    setTimeout(() => controller.abort(reason), 20);
    await assert.rejects(stalled, (e) => e === reason);
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("openAtomic(path, fn, { signal }) resolves with fn's result when the signal aborts after fn committed", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const controller = new AbortController();
    const result = await openAtomic(target, async (file) => {
      await file.write("new");
      await file.commit();
      controller.abort(new Error("too late"));
      await new Promise((resolve) => setTimeout(resolve, 20));
      return "done";
    }, { signal: controller.signal });
    assert.equal(result, "done");
    assert.equal(read(target), "new");
  });
});

/** `promise`, or a rejection saying it never settled (a hang, on the code before). */
function settled<T>(promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const never = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("never settled")), 5000);
  });
  return Promise.race([promise, never]).finally(() => clearTimeout(timer));
}

/** A stream that gives one chunk, then nothing, ever. */
/**
 * Runs `fn` while an earlier write to `target`, from a stream that has not
 * ended, holds back the renames of the writes called after it; ends that
 * write (aborted, its file removed) however `fn` ends.
 */
async function behindStalledWrite(
  target: string,
  fn: () => Promise<void>,
): Promise<void> {
  const controller = new AbortController();
  const earlier = writeFileAtomic(target, quietStream(), {
    signal: controller.signal,
  });
  try {
    // Its temporary file made: the one fn's assertions may count.
    while (tempsIn(path.dirname(target)).length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await fn();
  } finally {
    controller.abort(new Error("done"));
    await earlier.catch(() => {});
  }
}

function quietStream(): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(stream) {
      stream.enqueue(bytes("partial"));
    },
  });
}

for (const how of ["the signal", "abort()", "a failed write"] as const) {
  test(`AtomicFile.writable first read after ${how} ended the file is errored, so a pipe into it rejects`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      const controller = new AbortController();
      const reason = new Error("stop");
      const adapter = faultAdapter([{ op: "write", code: "ENOSPC" }]);
      await using(adapter, async () => {
        const file = await openAtomic(target, { signal: controller.signal });
        if (how === "the signal") controller.abort(reason);
        else if (how === "abort()") await file.abort();
        else await file.write(new Uint8Array(1 << 20)).catch(() => {});
        const silent = new ReadableStream<Uint8Array>(); // never gives a chunk
        await assert.rejects(
          settled(silent.pipeTo(file.writable)),
          (e) =>
            how === "the signal"
              ? e === reason
              : how === "abort()"
              ? e instanceof AtomicWriteError && e.code === "ECANCELED"
              : e instanceof AtomicWriteError && e.code === "ENOSPC",
        );
      });
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}

test("AtomicFile.writable fails a pipe only once the temporary file is gone when the signal aborts", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const controller = new AbortController();
    const reason = new Error("stop");
    const adapter = faultAdapter([]);
    const realRemove = adapter.async.remove;
    adapter.async.remove = async (file) => {
      await new Promise((r) => setTimeout(r, 20)); // a slow removal must still finish first
      return await realRemove(file);
    };
    await using(adapter, async () => {
      const file = await openAtomic(target, { signal: controller.signal });
      const piped = quietStream().pipeTo(file.writable);
      controller.abort(reason);
      await assert.rejects(settled(piped), (e) => e === reason);
      assert.deepEqual(tempsIn(dir), [], "the temp is gone when it rejects");
    });
  });
});

test("openAtomic(path, fn, { signal }) rejects with the signal's reason when it aborts while the commit waits for its turn behind a stream", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const controller = new AbortController();
    const reason = new Error("gave up");
    const adapter = faultAdapter([]);
    const realSync = adapter.async.sync;
    adapter.async.sync = async (file) => {
      controller.abort(reason); // while the commit seals, before its turn
      return await realSync(file);
    };
    await using(adapter, () =>
      behindStalledWrite(target, async () => {
        const stalled = openAtomic(target, async (file) => {
          await file.write("new");
          file.commit().catch(() => {}); // waits for the earlier write
          await new Promise(() => {}); // waits for something that never comes
        }, { signal: controller.signal });
        await assert.rejects(settled(stalled), (e) => e === reason);
        assert.equal(tempsIn(dir).length, 1, "only the earlier write's temp");
      }));
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("openAtomic() rejects with the signal's reason when it aborts just after the temporary file is made, before the handle listens", async () => {
  await withTempDir(async (dir) => {
    const controller = new AbortController();
    const reason = new Error("changed my mind");
    const { signal } = controller;
    const check = signal.throwIfAborted.bind(signal);
    // Each look at the signal passes; the first one once the temp exists
    // (the last before the handle is made) is followed by the abort.
    signal.throwIfAborted = () => {
      check();
      if (tempsIn(dir).length > 0) controller.abort(reason);
    };
    await assert.rejects(
      openAtomic(path.join(dir, "f"), { signal }),
      (e) => e === reason,
    );
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("AtomicFile.write() keeps no copy of an empty chunk", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const file = await openAtomic(target);
    let copies = 0;
    const empty = new Uint8Array(0);
    empty.slice = () => {
      copies++;
      return new Uint8Array(0);
    };
    for (let i = 0; i < 1000; i++) await file.write(empty);
    await file.write("text");
    await file.commit();
    assert.equal(copies, 0);
    assert.equal(read(target), "text");
  });
});

test("openAtomic() with a callback that aborts the file without awaiting it resolves once the temporary file is gone", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const adapter = faultAdapter([]);
    const realRemove = adapter.async.remove;
    adapter.async.remove = async (file) => {
      await new Promise((r) => setTimeout(r, 20)); // a slow removal must still finish first
      return await realRemove(file);
    };
    await using(adapter, async () => {
      const result = await openAtomic(target, (file) => {
        void file.write("draft");
        void file.abort();
        return "done";
      });
      assert.equal(result, "done");
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
});

test("AtomicFile.abort() after commit() stops a commit waiting for its turn: the commit rejects with ECANCELED, the target is unchanged", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    await behindStalledWrite(target, async () => {
      const file = await openAtomic(target);
      await file.write("new");
      const committing = file.commit();
      await settled(file.abort());
      const error = await failsWith(committing, "ECANCELED");
      assert.equal(error.operation, "commit");
      assert.equal(tempsIn(dir).length, 1, "only the earlier write's temp");
      await failsWith(file.write("x"), "ECANCELED");
    });
    assert.equal(read(target), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("AtomicFile.abort() once the commit has renamed waits for the commit and changes nothing", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const adapter = faultAdapter([]);
    const realRename = adapter.async.rename;
    let aborted: Promise<void> | undefined;
    let file: AtomicFile | undefined;
    adapter.async.rename = async (from, to) => {
      aborted = file?.abort(); // the rename is asked for already
      return await realRename(from, to);
    };
    await using(adapter, async () => {
      file = await openAtomic(target);
      await file.write("new");
      await file.commit();
      await aborted;
      await failsWith(file.write("x"), "EBADF"); // committed, not aborted
    });
    assert.equal(read(target), "new");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("openAtomic(path, fn, { signal }) resolves with fn's result when the signal aborts once the commit has asked for the rename", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    fs.writeFileSync(target, "old");
    const controller = new AbortController();
    const adapter = faultAdapter([]);
    const realRename = adapter.async.rename;
    adapter.async.rename = async (from, to) => {
      controller.abort(new Error("too late")); // the rename is asked for already
      return await realRename(from, to);
    };
    await using(adapter, async () => {
      const result = await openAtomic(target, async (file) => {
        await file.write("new");
        await file.commit();
        return "done";
      }, { signal: controller.signal });
      assert.equal(result, "done");
    });
    assert.equal(read(target), "new");
    assert.deepEqual(tempsIn(dir), []);
  });
});
