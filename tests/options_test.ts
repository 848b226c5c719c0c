/**
 * Option and data hygiene of the core API: unknown options fail loudly,
 * `encoding` turns strings into the same bytes everywhere, every binary form
 * is accepted as data, paths fail the same way on every runtime (a malformed
 * `file:` URL, a relative path with no current directory), and errors carry
 * `errno` and `syscall`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Buffer } from "node:buffer";
import process from "node:process";
import {
  type AtomicOptions,
  AtomicWriteError,
  AtomicWriter,
  lockFile,
  lockFileSync,
  makeTempFile,
  makeTempFileSync,
  type MakeTempOptions,
  removeStaleTemps,
  type RemoveStaleTempsOptions,
  removeStaleTempsSync,
  updateFileAtomic,
  updateFileAtomicSync,
  type UpdateOptions,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../mod.ts";
import { apis, failureOf, pathApis } from "./_apis.ts";
import {
  faultAdapter,
  root,
  scriptCommand,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { plainMode } from "./_compat.ts";
import {
  countingOptions,
  FAKE_SIGNAL,
  fakeSignal,
  onceEach,
  withPollutedPrototype,
} from "./_options.ts";

test("updateFileAtomic() names each valid option once when it refuses an unknown one", async () => {
  const error = await updateFileAtomic("unused", () => undefined, {
    wait: 1,
  } as never).then(() => null, (e) => e);
  assert.ok(error instanceof TypeError, String(error));
  const valid = /\(valid: (.*)\)/.exec(error.message)?.[1].split(", ") ?? [];
  assert.ok(
    valid.includes('"signal"') && valid.includes('"timeout"'),
    error.message,
  );
  assert.deepEqual(valid, [...new Set(valid)]);
});

for (const api of apis) {
  test(`${api.name} ${api.fails} with a TypeError naming an unknown option and the valid ones`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      const error = await api.write(target, "x", {
        fsync: false,
        chown: { uid: 0, gid: 0 },
      } as AtomicOptions).then(() => null, (e) => e);
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /unknown option "chown"/);
      assert.match(error.message, /"fsync", .*"signal"/);
      assert.equal(fs.existsSync(target), false);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${api.name} names every unknown option at once`, async () => {
    const error = await api.write("unused", "x", {
      tmpfileCreated: () => {},
      encodng: "latin1",
    } as AtomicOptions).then(() => null, (e) => e);
    assert.ok(error instanceof TypeError);
    assert.match(error.message, /unknown options "tmpfileCreated", "encodng"/);
  });

  test(`${api.name} writes strings in each encoding as Node's Buffer does`, async () => {
    await withTempDir(async (dir) => {
      // [encoding, text, the bytes Node's Buffer.from(text, encoding) gives]
      const table: [string, string, string][] = [
        ["utf8", "é€a", "c3a9e282ac61"],
        ["UTF-8", "é€a", "c3a9e282ac61"],
        ["utf16le", "é€a", "e900ac206100"],
        ["ucs-2", "é€a", "e900ac206100"],
        ["latin1", "é€a", "e9ac61"],
        ["binary", "é€a", "e9ac61"],
        ["ascii", "é€a", "e9ac61"],
        ["base64", "aGk/", "68693f"],
        ["base64url", "aGk_", "68693f"],
        ["hex", "C3a9ff", "c3a9ff"],
      ];
      for (const [encoding, text, hex] of table) {
        const target = path.join(dir, encoding);
        await api.write(target, text, { encoding });
        assert.equal(fs.readFileSync(target).toString("hex"), hex, encoding);
      }
    });
  });

  test(`${api.name} writes bytes as they are whatever the encoding`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      await api.write(target, new Uint8Array([0xff, 0x00]), {
        encoding: "hex",
      });
      assert.deepEqual([...fs.readFileSync(target)], [0xff, 0x00]);
    });
  });

  test(`${api.name} ${api.fails} with a TypeError for an encoding not every runtime shares`, async () => {
    await withTempDir(async (dir) => {
      const error = await api.write(path.join(dir, "f"), "x", {
        encoding: "utf-32",
      }).then(() => null, (e) => e);
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /"utf-32" is not one of utf8, .*hex/);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${api.name} writes every kind of ArrayBufferView and an ArrayBuffer`, async () => {
    await withTempDir(async (dir) => {
      const memory = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).buffer;
      const cases: [string, ArrayBufferView | ArrayBuffer, number[]][] = [
        ["DataView", new DataView(memory, 2, 3), [3, 4, 5]],
        ["Uint16Array", new Uint16Array(memory, 4, 2), [5, 6, 7, 8]],
        ["Int8Array", new Int8Array([-1, 1]), [0xff, 1]],
        ["Float64Array", new Float64Array(memory.slice(0, 8)), [
          1,
          2,
          3,
          4,
          5,
          6,
          7,
          8,
        ]],
        ["Buffer", Buffer.from(memory, 8, 2), [9, 10]],
        ["subarray", new Uint8Array(memory).subarray(7), [8, 9, 10]],
        ["ArrayBuffer", memory.slice(1, 3), [2, 3]],
      ];
      for (const [name, data, expected] of cases) {
        const target = path.join(dir, name);
        await api.write(target, data);
        assert.deepEqual([...fs.readFileSync(target)], expected, name);
      }
    });
  });

  test(`${api.name} ${api.fails} with errno and syscall from the failed system call`, async () => {
    await withTempDir(async (dir) => {
      const error = await api.write(path.join(dir, "missing", "f"), "x")
        .then(() => null, (e) => e);
      assert.ok(error instanceof AtomicWriteError);
      assert.equal(error.code, "ENOENT");
      // Node's convention: the negated number (libuv's), -2 on Linux.
      if (process.platform === "linux") assert.equal(error.errno, -2);
      else assert.equal(typeof error.errno, "number");
      // The temporary file's creation: through node:fs on every runtime.
      assert.equal(error.syscall, "open");
      assert.deepEqual(tempsIn(dir), []);
    });
  });
}

test("AtomicWriteError has no errno when no system call failed", async () => {
  await withTempDir(async (dir) => {
    fs.mkdirSync(path.join(dir, "d"));
    const error = await writeFileAtomic(path.join(dir, "d"), "x")
      .then(() => null, (e) => e);
    assert.ok(error instanceof AtomicWriteError);
    assert.equal(error.code, "EISDIR");
    assert.equal(error.errno, undefined);
    assert.equal(error.syscall, undefined);
  });
});

test("writeFileAtomicSync() writes a synchronous iterable of strings and bytes", async () => {
  await withTempDir((dir) => {
    const target = path.join(dir, "f");
    function* lines() {
      yield "a,";
      yield new TextEncoder().encode("b,");
      yield new Uint16Array([0x6463]);
    }
    writeFileAtomicSync(target, lines());
    assert.equal(fs.readFileSync(target, "utf8"), "a,b,cd");
    writeFileAtomicSync(target, ["é"], { encoding: "latin1" });
    assert.deepEqual([...fs.readFileSync(target)], [0xe9]);
  });
});

test("writeFileAtomicSync() throws a TypeError for an async iterable", async () => {
  await withTempDir((dir) => {
    async function* chunks() {
      yield "a";
    }
    assert.throws(
      () => writeFileAtomicSync(path.join(dir, "f"), chunks() as never),
      /async iterable or stream needs writeFileAtomic\(\)/,
    );
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("writeFileAtomic() writes async iterables in the encoding given", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    async function* chunks() {
      yield "6869";
      yield new DataView(new Uint8Array([0x21]).buffer);
    }
    await writeFileAtomic(target, chunks(), { encoding: "hex" });
    assert.equal(fs.readFileSync(target, "latin1"), "hi!");
  });
});

test("new AtomicWriter() throws a TypeError for an unknown option", () => {
  assert.throws(
    () => new AtomicWriter("f", { mkdirs: true } as AtomicOptions),
    /unknown option "mkdirs"/,
  );
});

test("AtomicWriter.write() writes strings in the writer's encoding", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const writer = new AtomicWriter(target, { encoding: "utf16le" });
    await writer.write("hi");
    assert.deepEqual([...fs.readFileSync(target)], [0x68, 0, 0x69, 0]);
    await writer.write(new DataView(new Uint8Array([0x6f, 0x6b]).buffer));
    assert.equal(fs.readFileSync(target, "utf8"), "ok");
  });
});

test("makeTempFile() and makeTempFileSync() throw a TypeError for an unknown option", async () => {
  await assert.rejects(
    makeTempFile({ prefx: "a-" } as MakeTempOptions),
    /unknown option "prefx" \(valid: "dir", "prefix", "suffix"\)/,
  );
  assert.throws(
    () => makeTempFileSync({ mode: 0o600 } as MakeTempOptions),
    /unknown option "mode"/,
  );
});

test("removeStaleTemps() and removeStaleTempsSync() throw a TypeError for an unknown option", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      removeStaleTemps(dir, { olderThanMs: 0 } as RemoveStaleTempsOptions),
      /unknown option "olderThanMs" \(valid: "olderThan", "olderThanIfUnknown"\)/,
    );
    assert.throws(
      () => removeStaleTempsSync(dir, { age: 0 } as RemoveStaleTempsOptions),
      /unknown option "age"/,
    );
  });
});

// Node and Deno throw a URIError for the first two, Bun gives "" (or "/…/%ZZ").
const malformedUrls = ["%E9t%E9", "%C3", "%ZZ"];

for (const api of pathApis) {
  test(`${api.name} fails with a TypeError naming a file: URL whose percent-encoding is not UTF-8`, async () => {
    await withTempDir(async (dir) => {
      for (const name of malformedUrls) {
        const url = new URL(`${pathToFileURL(dir).href}/${name}`);
        const error = await failureOf(() => api.use(url));
        assert.ok(error instanceof TypeError, `${name}: ${error}`);
        assert.ok(error.message.includes(`"${url.href}"`), error.message);
      }
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}

/** Runs `fn` with a current directory that was deleted, then goes back. */
async function withDeletedCwd(fn: () => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const gone = path.join(dir, "gone");
    fs.mkdirSync(gone);
    const cwd = process.cwd();
    process.chdir(gone);
    try {
      fs.rmdirSync(gone);
      await fn();
    } finally {
      process.chdir(cwd);
    }
  });
}

const noDeletedCwd = process.platform === "win32" &&
  "Windows cannot delete the current directory";

for (const api of pathApis) {
  test(
    `${api.name} fails with an AtomicWriteError ENOENT for a relative path when the current directory was deleted`,
    {
      skip: noDeletedCwd,
    },
    async () => {
      await withDeletedCwd(async () => {
        const error = await failureOf(() => api.use("rel"));
        assert.ok(error instanceof AtomicWriteError, String(error));
        assert.equal(error.code, "ENOENT");
        assert.equal(error.errno, -2);
        assert.equal(error.operation, "resolve path");
        assert.equal(error.path, "rel");
        assert.match(error.message, /^Cannot use (path|dir) "rel": /);
      });
    },
  );
}

/**
 * Runs `fn` in a current directory `app` that was used, then renamed to
 * `app.old`, with another `app` made at its path: Node and Bun keep the
 * path their `process.cwd()` first gave, which now names the new one.
 */
async function withMovedCwd(
  fn: (app: string, old: string) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const app = path.join(dir, "app");
    const old = path.join(dir, "app.old");
    fs.mkdirSync(app);
    const cwd = process.cwd();
    process.chdir(app);
    try {
      assert.equal(process.cwd(), app); // the path Node and Bun keep
      fs.renameSync(app, old);
      fs.mkdirSync(app);
      await fn(app, old);
    } finally {
      process.chdir(cwd);
    }
  });
}

for (const api of apis) {
  test(
    `${api.name} writes a relative path into the current directory after it was renamed and another made at its old path, as a plain write does`,
    {
      skip: process.platform === "win32" &&
        "Windows cannot rename the current directory",
    },
    async () => {
      await withMovedCwd(async (app, old) => {
        await api.write("rel", "x");
        assert.equal(fs.readFileSync(path.join(old, "rel"), "utf8"), "x");
        assert.deepEqual(fs.readdirSync(app), []);
      });
    },
  );
}

for (const api of pathApis) {
  test(
    `${api.name} fails with an AtomicWriteError ENOENT for a relative path when the current directory was deleted and another made at its path`,
    {
      skip: noDeletedCwd,
    },
    async () => {
      await withMovedCwd(async (app) => {
        fs.rmSync(`${app}.old`, { recursive: true });
        const error = await failureOf(() => api.use("rel"));
        assert.ok(error instanceof AtomicWriteError, String(error));
        assert.equal(error.code, "ENOENT");
        assert.equal(error.operation, "resolve path");
        assert.deepEqual(fs.readdirSync(app), []);
      });
    },
  );
}

const noDeepCwd = process.platform !== "linux" &&
  "needs Linux's PATH_MAX of 4096 and bash";

/**
 * Runs, in `dir`, the shell commands `enter`, then `tests/_child.ts` writing
 * `rel.txt` with the `api` API: it prints the code and errno of the failure.
 */
function relativeWriteAfter(
  enter: string,
  dir: string,
  api: string,
): { stdout: string; stderr: string } {
  const child = scriptCommand(path.join(root, "tests", "_child.ts"), [
    "errno",
    "rel.txt",
    api,
  ]).map((word) => `'${word}'`).join(" ");
  return spawnSync("bash", ["-c", `${enter} && exec ${child}`], {
    cwd: dir,
    encoding: "utf8",
  });
}

test(
  "a relative path fails with ENAMETOOLONG (errno -36) on every API when the current directory's path is longer than PATH_MAX",
  { skip: noDeepCwd },
  async () => {
    await withTempDir((dir) => {
      // 25 levels of 200 bytes: 5 KiB, entered one level at a time (a shell
      // can; Bun's process.chdir cannot, its getcwd fails after).
      const level = "d".repeat(200);
      const enter = Array(25).fill(`mkdir -p ${level} && cd ${level}`).join(
        " && ",
      );
      try {
        for (const api of ["async", "sync", "handle"]) {
          const run = relativeWriteAfter(enter, dir, api);
          assert.equal(
            run.stdout,
            "ENAMETOOLONG -36\n",
            `${api}: ${run.stderr}`,
          );
        }
      } finally {
        // Node 22's fs.rmSync cannot remove a tree this deep; rm can.
        spawnSync("rm", ["-rf", path.join(dir, level)]);
      }
    });
  },
);

test(
  "a relative path fails with EILSEQ (errno -84) on every API when the current directory's path is not UTF-8",
  { skip: process.platform !== "linux" && "reads /proc/self/cwd" },
  async () => {
    await withTempDir((dir) => {
      // "caf" and the byte 0xE9: Node and Bun decode the path with U+FFFD,
      // naming this other directory.
      const twin = path.join(dir, "caf\uFFFD");
      fs.mkdirSync(twin);
      const enter =
        `name=$(printf 'caf\\351') && mkdir -p "$name" && cd "$name"`;
      for (const api of ["async", "sync", "handle"]) {
        const run = relativeWriteAfter(enter, dir, api);
        assert.equal(run.stdout, "EILSEQ -84\n", `${api}: ${run.stderr}`);
      }
      assert.deepEqual(fs.readdirSync(twin), []);
    });
  },
);

test(
  "AtomicWriter reports a relative path with no current directory through write() and flush()",
  {
    skip: noDeletedCwd,
  },
  async () => {
    await withDeletedCwd(async () => {
      const writer = new AtomicWriter("rel.json");
      assert.equal(writer.path, "rel.json");
      const error = await failureOf(() => writer.write("{}"));
      assert.ok(error instanceof AtomicWriteError, String(error));
      assert.equal(error.code, "ENOENT");
      assert.equal(await failureOf(() => writer.flush()), error);
    });
  },
);

/** Every API with a `mkdir` option, making `path` with it. */
const mkdirApis = [
  ...apis.map((api) => ({
    name: api.name,
    use: (path: string) => api.write(path, "x", { mkdir: true }),
  })),
  {
    name: "lockFile()",
    use: async (path: string) =>
      await (await lockFile(path, { mkdir: true })).release(),
  },
  {
    name: "lockFileSync()",
    use: (path: string) => lockFileSync(path, { mkdir: true }).releaseSync(),
  },
];

for (const api of mkdirApis) {
  test(
    `${api.name} with mkdir: true fails with EEXIST through a link to a missing directory, as mkdir -p does`,
    {
      skip: process.platform === "win32" && "symbolic links need privileges",
    },
    async () => {
      await withTempDir(async (dir) => {
        fs.symlinkSync(path.join(dir, "missing"), path.join(dir, "dl"));
        for (const name of ["dl/f", "dl/sub/f", "dl/sub/deeper/f"]) {
          const error = await failureOf(() => api.use(path.join(dir, name)));
          assert.ok(error instanceof AtomicWriteError, `${name}: ${error}`);
          assert.equal(error.code, "EEXIST", `${name}: ${error.message}`);
          assert.equal(error.errno, -17, name);
          assert.equal(error.operation, "create directory", name);
        }
        assert.deepEqual(fs.readdirSync(dir), ["dl"]);
      });
    },
  );
}

test("every option may be given as undefined, meaning not given (and typed so, under exactOptionalPropertyTypes)", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const unset: {
      mode?: number | undefined;
      timeout?: number | undefined;
      olderThan?: number | undefined;
    } = {};
    await writeFileAtomic(target, "x", {
      fsync: undefined,
      mode: unset.mode,
      overwrite: undefined,
      signal: undefined,
      encoding: undefined,
      mkdir: undefined,
    });
    await updateFileAtomic(target, () => "y", {
      timeout: unset.timeout,
      lease: undefined,
      mode: undefined,
    });
    const lock = await lockFile(target, {
      timeout: undefined,
      mkdir: undefined,
    });
    await lock.release();
    await makeTempFile(async () => {}, {
      dir: undefined,
      prefix: undefined,
      suffix: undefined,
    });
    assert.deepEqual(
      await removeStaleTemps(dir, {
        olderThan: unset.olderThan,
        olderThanIfUnknown: undefined,
      }),
      [],
    );
    assert.equal(fs.readFileSync(target, "utf8"), "y");
  });
});

// Options are taken once, own keys only: inherited keys (a polluted
// `Object.prototype` too) are not options, every own key is checked, each
// option is read exactly once, and a signal or lease that cannot work is
// refused with the same error on every runtime.

/** Every option of a write, each with a value that works. */
const WRITE_VALUES = {
  fsync: false,
  mode: 0o600,
  overwrite: true,
  mkdir: true,
  signal: new AbortController().signal,
  encoding: "utf8",
};

/** Every option of a lock, each with a value that works. */
const LOCK_VALUES = {
  timeout: 5_000,
  signal: new AbortController().signal,
  lease: 10_000,
  mkdir: true,
};

for (const api of apis) {
  test(`${api.name} ignores options its options object inherits`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      const adapter = faultAdapter([]);
      const inherited = Object.create({ fsync: false, mode: 0o777 });
      await using(adapter, () => api.write(target, "x", inherited));
      assert.ok(adapter.calls.some((c) => c.split(":")[0] === "sync"));
      assert.equal(fs.statSync(target).mode & 0o777, plainMode(dir));
    });
  });

  test(`${api.name} ignores options set on a polluted Object.prototype, with and without options`, async () => {
    await withTempDir(async (dir) => {
      const plain = plainMode(dir);
      for (const options of [undefined, {}]) {
        const target = path.join(dir, `f${options ? 1 : 0}`);
        const adapter = faultAdapter([]);
        await withPollutedPrototype(
          { fsync: false, mode: 0o777 },
          () => using(adapter, () => api.write(target, "x", options)),
        );
        assert.ok(adapter.calls.some((c) => c.split(":")[0] === "sync"));
        assert.equal(fs.statSync(target).mode & 0o777, plain);
      }
    });
  });

  test(`${api.name} ${api.fails} with a TypeError naming a non-enumerable own unknown option`, async () => {
    await withTempDir(async (dir) => {
      const options = Object.defineProperty({}, "fsycn", { value: false });
      const error = await failureOf(() =>
        api.write(path.join(dir, "f"), "x", options)
      );
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /unknown option "fsycn"/);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${api.name} reads each option once`, async () => {
    await withTempDir(async (dir) => {
      const { options, reads } = countingOptions(WRITE_VALUES);
      await api.write(path.join(dir, "f"), "x", options);
      assert.deepEqual(reads, onceEach(reads));
    });
  });

  test(`${api.name} uses the mkdir it checked, from a getter that answers false and then 1`, async () => {
    await withTempDir(async (dir) => {
      let reads = 0;
      const options = {
        get mkdir() {
          return reads++ === 0 ? false : 1;
        },
      };
      const error = await failureOf(() =>
        api.write(path.join(dir, "missing", "f"), "x", options as never)
      );
      assert.ok(error instanceof AtomicWriteError, String(error));
      assert.equal(error.code, "ENOENT");
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${api.name} uses the overwrite it checked, from a getter that answers false and then undefined`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "f");
      fs.writeFileSync(target, "old");
      let reads = 0;
      const options = {
        get overwrite() {
          return reads++ === 0 ? false : undefined;
        },
      };
      const error = await failureOf(() => api.write(target, "new", options));
      assert.ok(error instanceof AtomicWriteError, String(error));
      assert.equal(error.code, "EEXIST");
      assert.equal(fs.readFileSync(target, "utf8"), "old");
    });
  });

  test(`${api.name} ${api.fails} with its own TypeError for a signal the runtime did not make`, async () => {
    await withTempDir(async (dir) => {
      const error = await failureOf(() =>
        api.write(path.join(dir, "f"), "x", { signal: fakeSignal() })
      );
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, FAKE_SIGNAL);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}

test("new AtomicWriter() ignores options set on a polluted Object.prototype", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const writer = await withPollutedPrototype(
      { signal: AbortSignal.abort(), mode: 0o777 },
      () => new AtomicWriter(target, {}),
    );
    await writer.write("x");
    assert.equal(fs.statSync(target).mode & 0o777, plainMode(dir));
  });
});

test("new AtomicWriter() throws a TypeError naming a non-enumerable own unknown option", () => {
  const options = Object.defineProperty({}, "mkdirs", { value: true });
  assert.throws(
    () => new AtomicWriter("f", options),
    /unknown option "mkdirs"/,
  );
});

test("new AtomicWriter() reads each option once", async () => {
  await withTempDir(async (dir) => {
    const { signal: _, ...values } = WRITE_VALUES;
    const { options, reads } = countingOptions(values);
    await new AtomicWriter(path.join(dir, "f"), options).write("x");
    assert.deepEqual(reads, onceEach(reads));
  });
});

/** The APIs that take a lock's options, each as a promise of its least use. */
const lockingApis: {
  name: string;
  use(path: string, options?: UpdateOptions): Promise<unknown>;
}[] = [
  {
    name: "updateFileAtomic()",
    use: (path, options) => updateFileAtomic(path, () => "x", options),
  },
  {
    name: "updateFileAtomicSync()",
    use: (path, options) =>
      Promise.resolve().then(() =>
        updateFileAtomicSync(path, () => "x", options)
      ),
  },
  {
    name: "lockFile()",
    use: async (path, options) =>
      await (await lockFile(path, options)).release(),
  },
  {
    name: "lockFileSync()",
    use: (path, options) =>
      Promise.resolve().then(() => lockFileSync(path, options).releaseSync()),
  },
];

for (const { name, use } of lockingApis) {
  test(`${name} rejects with its own TypeError for a signal the runtime did not make`, async () => {
    await withTempDir(async (dir) => {
      const error = await failureOf(() =>
        use(path.join(dir, "f"), { signal: fakeSignal() })
      );
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, FAKE_SIGNAL);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} rejects with a RangeError naming the minimum for a lease too short to keep`, async () => {
    await withTempDir(async (dir) => {
      for (const lease of [1e-300, 0.001, 5, 999]) {
        const error = await failureOf(() =>
          use(path.join(dir, "f"), { lease })
        );
        assert.ok(error instanceof RangeError, String(error));
        assert.match(error.message, /"lease": .* minimum of 1000 ms/);
      }
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}

for (const name of ["updateFileAtomic()", "updateFileAtomicSync()"]) {
  const update = name === "updateFileAtomic()"
    ? updateFileAtomic
    : (...args: Parameters<typeof updateFileAtomicSync>) =>
      Promise.resolve().then(() => updateFileAtomicSync(...args));

  test(`${name} ignores options set on a polluted Object.prototype, with and without options`, async () => {
    await withTempDir(async (dir) => {
      const plain = plainMode(dir);
      for (const options of [undefined, {}]) {
        const target = path.join(dir, `f${options ? 1 : 0}`);
        await withPollutedPrototype(
          { mode: 0o777, lease: 1 },
          () => update(target, () => "x", options),
        );
        assert.equal(fs.statSync(target).mode & 0o777, plain);
      }
    });
  });

  test(`${name} reads each option once`, async () => {
    await withTempDir(async (dir) => {
      const { options, reads } = countingOptions({
        ...WRITE_VALUES,
        ...LOCK_VALUES,
      });
      await update(path.join(dir, "f"), () => "x", options);
      assert.deepEqual(reads, onceEach(reads));
    });
  });
}

for (const name of ["lockFile()", "lockFileSync()"]) {
  const lock = name === "lockFile()"
    ? lockFile
    : (...args: Parameters<typeof lockFileSync>) =>
      Promise.resolve().then(() => lockFileSync(...args));

  test(`${name} ignores a lease set on a polluted Object.prototype, with and without options`, async () => {
    await withTempDir(async (dir) => {
      for (const options of [undefined, {}]) {
        const held = await withPollutedPrototype(
          { lease: 1 },
          () => lock(path.join(dir, "f"), options),
        );
        await new Promise((resolve) => setTimeout(resolve, 100));
        assert.equal(held.signal.aborted, false);
        await held.release();
      }
    });
  });

  test(`${name} rejects with a TypeError naming a non-enumerable own unknown option`, async () => {
    await withTempDir(async (dir) => {
      const options = Object.defineProperty({}, "leese", { value: 1 });
      const error = await failureOf(() => lock(path.join(dir, "f"), options));
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /unknown option "leese"/);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} reads each option once`, async () => {
    await withTempDir(async (dir) => {
      const { options, reads } = countingOptions(LOCK_VALUES);
      await (await lock(path.join(dir, "f"), options)).release();
      assert.deepEqual(reads, onceEach(reads));
    });
  });
}

test("lockFile() keeps a lock of the minimum lease, with no other holder", async () => {
  await withTempDir(async (dir) => {
    const held = await lockFile(path.join(dir, "f"), { lease: 1_000 });
    // Several heartbeats (every 200 ms), each with 600 ms to come.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(held.signal.aborted, false);
    await held.release();
  });
});

test("makeTempFile() and makeTempFileSync() ignore options set on a polluted Object.prototype", async () => {
  await withTempDir(async (dir) => {
    await withPollutedPrototype({ prefix: "polluted-" }, async () => {
      await makeTempFile((file) => {
        assert.ok(!path.basename(file.path).startsWith("polluted-"), file.path);
      }, { dir });
      const sync = makeTempFileSync({ dir });
      assert.ok(!path.basename(sync.path).startsWith("polluted-"), sync.path);
      sync[Symbol.dispose]();
    });
  });
});

test("makeTempFile() and makeTempFileSync() read each option once", async () => {
  await withTempDir(async (dir) => {
    for (const make of [makeTempFile, makeTempFileSync]) {
      const { options, reads } = countingOptions({
        dir,
        prefix: "a-",
        suffix: ".b",
      });
      await (await make(options as MakeTempOptions)).remove();
      assert.deepEqual(reads, onceEach(reads));
    }
  });
});

test("removeStaleTemps() and removeStaleTempsSync() read each option once", async () => {
  await withTempDir(async (dir) => {
    for (const remove of [removeStaleTemps, removeStaleTempsSync]) {
      const { options, reads } = countingOptions({
        olderThan: 60_000,
        olderThanIfUnknown: 60_000,
      });
      await remove(dir, options as RemoveStaleTempsOptions);
      assert.deepEqual(reads, onceEach(reads));
    }
  });
});
