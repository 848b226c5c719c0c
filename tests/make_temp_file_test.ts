/** makeTempFile() and makeTempFileSync(): unique files that remove themselves. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { AtomicWriteError, makeTempFile, makeTempFileSync } from "../mod.ts";
import {
  faultAdapter,
  root,
  scriptCommand,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { spawnSync } from "node:child_process";
import { linkedTree } from "./_path_fixtures.ts";

test("makeTempFile() creates an empty private file in the system temp directory", async () => {
  const tmp = await makeTempFile();
  try {
    assert.equal(path.dirname(tmp.path), path.resolve(os.tmpdir()));
    const stat = fs.statSync(tmp.path);
    assert.equal(stat.size, 0);
    assert.equal(stat.mode & 0o777, 0o600);
  } finally {
    await tmp.remove();
  }
});

test("makeTempFile() names the file with the prefix and suffix in the given directory", async () => {
  await withTempDir(async (dir) => {
    const tmp = await makeTempFile({ dir, prefix: "up-", suffix: ".bin" });
    assert.match(path.basename(tmp.path), /^up-[0-9a-f]{12}\.bin$/);
    assert.equal(path.dirname(tmp.path), dir);
    await tmp.remove();
  });
});

test("makeTempFile() and makeTempFileSync() create the file in the directory the kernel finds at dir, through a linked directory and ..", async () => {
  await withTempDir(async (dir) => {
    // `alias/..` is `real` to the kernel (`alias` -> `real/sub`), `dir` as text.
    const { alias } = linkedTree(dir);
    const made = [
      await makeTempFile({ dir: `${alias}/..` }),
      makeTempFileSync({ dir: `${alias}/..` }),
    ];
    const real = fs.readdirSync(path.join(dir, "real"));
    for (const tmp of made) {
      assert.equal(path.dirname(tmp.path), `${alias}/..`);
      assert.ok(real.includes(path.basename(tmp.path)), tmp.path);
    }
    assert.deepEqual(fs.readdirSync(dir).sort(), ["alias", "real"]);
    await made[0].remove();
    made[1][Symbol.dispose]();
    assert.deepEqual(fs.readdirSync(path.join(dir, "real")).sort(), [
      "sub",
      "target.json",
    ]);
  });
});

test("makeTempFile() returns a file that removes itself when disposed", async () => {
  const tmp = await makeTempFile();
  assert.ok(fs.existsSync(tmp.path));
  await tmp[Symbol.asyncDispose]();
  assert.equal(fs.existsSync(tmp.path), false);
});

test("TempFile.remove() does nothing when the file is already gone", async () => {
  const tmp = await makeTempFile();
  fs.unlinkSync(tmp.path);
  await tmp.remove();
  tmp[Symbol.dispose]();
});

test("makeTempFile() with a callback removes the file when the callback settles", async () => {
  let seen = "";
  const size = await makeTempFile((tmp) => {
    seen = tmp.path;
    fs.writeFileSync(tmp.path, "abc");
    return fs.statSync(tmp.path).size;
  });
  assert.equal(size, 3);
  assert.equal(fs.existsSync(seen), false);
});

test("makeTempFile() with a callback removes the file when the callback throws", async () => {
  let seen = "";
  const boom = new Error("callback failed");
  await assert.rejects(
    makeTempFile((tmp) => {
      seen = tmp.path;
      throw boom;
    }),
    (e) => e === boom,
  );
  assert.equal(fs.existsSync(seen), false);
});

test("makeTempFile() with a callback rethrows its error when the removal afterwards fails too, with the removal's failure as its suppressed", async () => {
  await withTempDir(async (dir) => {
    const boom = new Error("callback failed");
    let seen = "";
    await using(faultAdapter([{ op: "remove", code: "EACCES" }]), async () => {
      await assert.rejects(
        makeTempFile((tmp) => {
          seen = tmp.path;
          throw boom;
        }, { dir }),
        (e) => e === boom,
      );
    });
    const suppressed = (boom as { suppressed?: unknown }).suppressed;
    assert.ok(suppressed instanceof AtomicWriteError, String(suppressed));
    assert.equal(suppressed.code, "EACCES");
    assert.equal(suppressed.path, seen);
    assert.equal(Object.keys(boom).includes("suppressed"), false);
  });
});

test("makeTempFileSync() creates a file that removes itself when disposed", () => {
  const tmp = makeTempFileSync({ suffix: ".json" });
  assert.ok(tmp.path.endsWith(".json"));
  assert.ok(fs.existsSync(tmp.path));
  tmp[Symbol.dispose]();
  assert.equal(fs.existsSync(tmp.path), false);
});

test("makeTempFile() gives every file a different name", async () => {
  await withTempDir(async (dir) => {
    const files = await Promise.all(
      Array.from({ length: 100 }, () => makeTempFile({ dir })),
    );
    assert.equal(new Set(files.map((f) => f.path)).size, 100);
    await Promise.all(files.map((f) => f.remove()));
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("makeTempFile() rejects with a TypeError for a prefix holding a path separator", async () => {
  await assert.rejects(makeTempFile({ prefix: "../escape" }), TypeError);
  assert.throws(() => makeTempFileSync({ suffix: "a/b" }), TypeError);
});

test("makeTempFile() rejects with a TypeError for options after a non-function, making no file", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(
      makeTempFile(undefined as never, { dir, prefix: "report-" } as never),
      TypeError,
    );
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("makeTempFile() rejects with a TypeError for a prefix or suffix holding a lone surrogate, making no file", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(makeTempFile({ dir, prefix: "p\uD83D" }), TypeError);
    assert.throws(() => makeTempFileSync({ dir, suffix: "\uDC00" }), TypeError);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("makeTempFile() rejects with an AtomicWriteError (ENOENT) for a missing directory", async () => {
  await withTempDir(async (dir) => {
    const missing = path.join(dir, "missing");
    const expected = (e: unknown) =>
      e instanceof AtomicWriteError && e.code === "ENOENT" &&
      e.operation === "create" &&
      e.message.startsWith(`Cannot make a temporary file in "${missing}"`);
    await assert.rejects(makeTempFile({ dir: missing }), expected);
    assert.throws(() => makeTempFileSync({ dir: missing }), expected);
  });
});

test("TempFile.remove() rejects with an AtomicWriteError when the file cannot be removed", async () => {
  await withTempDir(async (dir) => {
    const faults = faultAdapter([{ op: "remove", code: "EACCES" }]);
    await using(faults, async () => {
      const tmp = await makeTempFile({ dir });
      await assert.rejects(
        tmp.remove(),
        (e: unknown) =>
          e instanceof AtomicWriteError && e.code === "EACCES" &&
          e.operation === "remove" && e.path === tmp.path,
      );
      assert.ok(fs.existsSync(tmp.path));
    });
  });
});

test("makeTempFileSync() returns an absolute path when TMPDIR is relative", async () => {
  await withTempDir((dir) => {
    const saved = { tmp: process.env.TMPDIR, cwd: process.cwd() };
    process.chdir(path.dirname(dir));
    process.env.TMPDIR = path.basename(dir);
    try {
      const tmp = makeTempFileSync();
      assert.equal(tmp.path, path.join(dir, path.basename(tmp.path)));
      tmp[Symbol.dispose]();
    } finally {
      process.chdir(saved.cwd);
      if (saved.tmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved.tmp;
    }
  });
});

test("makeTempFileSync() without a dir takes TMP, then TEMP, where TMPDIR is unset or empty, as os.tmpdir() does", async () => {
  await withTempDir((dir) => {
    const names = ["TMPDIR", "TMP", "TEMP"];
    const saved = names.map((name) => process.env[name]);
    const inDir = (made: { path: string; [Symbol.dispose](): void }) => {
      made[Symbol.dispose]();
      return path.dirname(made.path);
    };
    try {
      const tmp = path.join(dir, "tmp");
      const temp = path.join(dir, "temp");
      fs.mkdirSync(tmp);
      fs.mkdirSync(temp);
      delete process.env.TMPDIR;
      process.env.TMP = tmp;
      process.env.TEMP = temp;
      assert.equal(inDir(makeTempFileSync()), tmp);
      process.env.TMPDIR = "";
      assert.equal(inDir(makeTempFileSync()), tmp);
      delete process.env.TMP;
      assert.equal(inDir(makeTempFileSync()), temp);
      process.env.TEMP = `${temp}/`;
      assert.equal(inDir(makeTempFileSync()), temp);
    } finally {
      names.forEach((name, i) => {
        if (saved[i] === undefined) delete process.env[name];
        else process.env[name] = saved[i];
      });
    }
  });
});

test(
  "makeTempFile() fails with EILSEQ when $TMPDIR is not UTF-8, making nothing in the directory its U+FFFD spelling names",
  {
    skip: process.platform !== "linux" ? "reads /proc/self/environ" : false,
  },
  async () => {
    await withTempDir((dir) => {
      // "tmp" and the byte 0xFF; Node and Bun decode it as "tmp\uFFFD".
      const twin = path.join(dir, "tmp\uFFFD");
      fs.mkdirSync(twin);
      const script = path.join(dir, "make.ts");
      fs.writeFileSync(
        script,
        `import { makeTempFile } from ${
          JSON.stringify(path.join(root, "mod.ts"))
        };
try {
  await makeTempFile();
  console.log("made");
} catch (error) {
  console.log(error.code);
}
`,
      );
      const child = scriptCommand(script).map((word) => `'${word}'`).join(" ");
      const run = spawnSync("sh", [
        "-c",
        `name=$(printf 'tmp\\377') && mkdir "$name" && TMPDIR="$PWD/$name" exec ${child}`,
      ], { cwd: dir, encoding: "utf8" });
      assert.equal(run.stdout, "EILSEQ\n", run.stderr);
      assert.deepEqual(fs.readdirSync(twin), []);
    });
  },
);

for (
  const [name, make] of [
    ["makeTempFile()", (dir: string) => makeTempFile({ dir })],
    [
      "makeTempFileSync()",
      (dir: string) => Promise.resolve().then(() => makeTempFileSync({ dir })),
    ],
  ] as const
) {
  test(`${name} leaves nothing and names the close when closing the file it made fails (a file server's late write error)`, async () => {
    await withTempDir(async (dir) => {
      const adapter = faultAdapter([{ op: "close", code: "EIO", times: 1 }]);
      await using(adapter, async () => {
        await assert.rejects(
          make(dir),
          (e) =>
            e instanceof AtomicWriteError && e.code === "EIO" &&
            e.operation === "close",
        );
      });
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });
}

test("TempFile.remove() fails with EISDIR, as unlink(2) does, on every runtime where a directory has taken the file's name", async () => {
  await withTempDir(async (dir) => {
    const file = await makeTempFile({ dir });
    fs.rmSync(file.path);
    fs.mkdirSync(file.path);
    fs.writeFileSync(path.join(file.path, "inner"), "x");
    await assert.rejects(
      file.remove(),
      (e) =>
        e instanceof AtomicWriteError && e.code === "EISDIR" &&
        e.errno === -os.constants.errno.EISDIR,
    );
    assert.deepEqual(fs.readdirSync(file.path), ["inner"]);
    fs.rmSync(file.path, { recursive: true });
  });
});
