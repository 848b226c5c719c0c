/** @x/atomic/compat/write-file-atomic: the package's behaviour, through every calling form. */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import * as entryPoint from "../src/compat/write_file_atomic.ts";
import writeFileAtomic, {
  sync,
  writeFile,
  writeFileSync,
} from "../src/compat/write_file_atomic.ts";
import {
  ownedDirectory,
  ownership,
  read,
  tempsIn,
  withTempDir,
} from "./_fixtures.ts";
import {
  callbackCases,
  formsOf,
  oneAtATimeCases,
  orderCase,
  sharedCases,
} from "./_compat.ts";

const forms = formsOf("write-file-atomic", writeFile, writeFileSync);
callbackCases("write-file-atomic", writeFile as never, "tmpfileCreated");
for (const form of forms) {
  sharedCases(form);
  orderCase(form);
  oneAtATimeCases(form, "tmpfileCreated", writeFileSync);

  test(`${form.name} calls tmpfileCreated with the temporary file, beside the target, before the rename`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      const seen: { tmp: string; exists: boolean; target: string }[] = [];
      await form.write(file, "new", {
        tmpfileCreated: (tmp: string) =>
          void seen.push({
            tmp,
            exists: fs.existsSync(tmp),
            target: read(file),
          }),
      });
      assert.equal(seen.length, 1);
      assert.equal(path.dirname(seen[0].tmp), dir);
      assert.equal(seen[0].exists, true);
      assert.equal(seen[0].target, "old");
      assert.equal(fs.existsSync(seen[0].tmp), false);
      assert.equal(read(file), "new");
    });
  });

  test(`${form.name} ${form.fails} with what tmpfileCreated throws and removes the temporary file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const failure = new Error("refused");
      await assert.rejects(
        form.write(file, "x", {
          tmpfileCreated: () => {
            throw failure;
          },
        }),
        (error) => error === failure,
      );
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(
    `${form.name} gives the file the chown asked for even where it is the writer's own ids and a set-group-ID directory gave the temporary file another group`,
    {
      skip: process.getuid?.() !== 0
        ? "needs root: a directory of another group"
        : false,
    },
    async () => {
      await withTempDir(async (dir) => {
        const shared = ownedDirectory(dir, "shared", [0, 1000], 0o2777);
        const file = path.join(shared, "f");
        await form.write(file, "root-only", {
          chown: { uid: 0, gid: 0 },
          mode: 0o640,
        });
        assert.equal(ownership(file), "0:0 640");
      });
    },
  );

  test(`${form.name} writes other values as their String()`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      await form.write(file, 42);
      assert.equal(read(file), "42");
      await form.write(file, null);
      assert.equal(read(file), "");
    });
  });
}

test("write-file-atomic writeFile() waits for a promise tmpfileCreated returns", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    let released = false;
    await writeFile(file, "x", {
      tmpfileCreated: () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            released = true;
            resolve();
          }, 20)
        ),
    });
    assert.equal(released, true);
    assert.equal(read(file), "x");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("write-file-atomic writeFile() with a callback resolves its promise after the callback, also on failure", async () => {
  await withTempDir(async (dir) => {
    const calls: unknown[] = [];
    const result = await writeFile(
      path.join(dir, "missing", "f"),
      "x",
      (error) => void calls.push(error),
    );
    assert.equal(result, undefined);
    assert.equal(calls.length, 1);
    assert.equal((calls[0] as { code?: string }).code, "ENOENT");
  });
});

test("write-file-atomic writeFile() with a callback rejects with what the callback throws", async () => {
  await withTempDir(async (dir) => {
    const error = await writeFile(path.join(dir, "missing", "f"), "x", (e) => {
      if (e) throw e;
    }).then(() => null, (e) => e);
    assert.equal(error?.code, "ENOENT");
  });
});

test("write-file-atomic writeFile() with a callback resolves with what the callback returns, once a promise it returns settles", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    assert.equal(await writeFile(file, "x", () => 42), 42);
    const later = writeFile(file, "y", {}, async (error) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return error ?? "done";
    });
    assert.equal(await later, "done");
    assert.equal(read(file), "y");
  });
});

test("write-file-atomic writeFile() calls a callback that throws on success again with what it threw", async () => {
  await withTempDir(async (dir) => {
    const failure = new Error("refused");
    const calls: unknown[] = [];
    const result = await writeFile(path.join(dir, "f"), "x", (error) => {
      calls.push(error);
      if (error === undefined) throw failure;
      return "handled";
    });
    assert.deepEqual(calls, [undefined, failure]);
    assert.equal(result, "handled");
  });
});

test("write-file-atomic's default export is writeFile with sync attached", () => {
  assert.equal(writeFileAtomic, writeFile);
  assert.equal(writeFileAtomic.sync, writeFileSync);
  assert.equal(sync, writeFileSync);
});

test('write-file-atomic\'s entry point exports the default export as "module.exports", what require() gives', () => {
  // Node 22+ and Bun return this export from require() of an ES module; the
  // built package's require() is checked by .ci/pack_test.sh.
  assert.equal(
    (entryPoint as Record<string, unknown>)["module.exports"],
    writeFileAtomic,
  );
});

test("write-file-atomic's default export carries the named exports, which CommonJS output reads from what require() gives", () => {
  // TypeScript compiles `import { writeFileSync } from …` to CommonJS as
  // `require(…).writeFileSync`: the function must have it.
  assert.equal(writeFileAtomic.writeFileSync, writeFileSync);
  assert.equal(writeFileAtomic.writeFile, writeFile);
});

test("write-file-atomic writeFile() passes its callback an error whose code and message type-check without a cast", async () => {
  await withTempDir(async (dir) => {
    const seen: string[] = [];
    // A directory cannot be replaced by a file.
    await writeFile(dir, "x", (error) => {
      if (error) seen.push(`${error.code} ${typeof error.message}`);
    });
    assert.deepEqual(seen, ["EISDIR string"]);
  });
});
