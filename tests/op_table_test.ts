/**
 * Each adapter states an operation once (`src/runtime/_op_table.ts`): the
 * row's mapping and recovery serve both forms, and the real adapter's two
 * forms give the same answer and the same error code.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import {
  dirSync,
  fromCallbacks,
  fromPromises,
  missingAsNull,
  type Twin,
} from "../src/runtime/_op_table.ts";
import { isWindows } from "../src/runtime/_posix.ts";
import { detectAdapter } from "../src/runtime/detect.ts";
import { perform, type Request, request } from "../src/_steps.ts";
import { runAsync, runSync } from "../src/_run.ts";
import { errorCode } from "../src/_error_code.ts";
import { systemError, withTempDir } from "./_fixtures.ts";

/** What a call gave: its value, or its error's code. */
type Outcome = { value: unknown } | { code: string | undefined };

function outcomeOf(call: () => unknown): Outcome {
  try {
    return { value: call() };
  } catch (error) {
    return { code: errorCode(error) };
  }
}

async function asyncOutcomeOf(call: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { value: await call() };
  } catch (error) {
    return { code: errorCode(error) };
  }
}

/** Both forms' outcomes of `twin` for `args`, sync first. */
async function bothForms<A extends unknown[]>(
  twin: Twin<A, unknown>,
  ...args: A
): Promise<[Outcome, Outcome]> {
  return [
    outcomeOf(() => twin.sync(...args)),
    await asyncOutcomeOf(() => twin.async(...args)),
  ];
}

/** A fake runtime call pair that gives `value`, or fails with `code`. */
function fakeCallbacks(outcome: { value: number } | { code: string }) {
  const fail = () => "code" in outcome ? systemError(outcome.code) : null;
  const value = "value" in outcome ? outcome.value : 0;
  return {
    sync: (_path: string): number => {
      const error = fail();
      if (error) throw error;
      return value;
    },
    async: (_path: string) => (done: (e: Error | null, v: number) => void) =>
      setTimeout(() => done(fail(), value)),
  };
}

test("fromCallbacks() maps the result the same way in both forms", async () => {
  const { sync, async } = fakeCallbacks({ value: 20 });
  const twin = fromCallbacks(sync, async, { result: (n) => `${n * 2}` });
  assert.deepEqual(await bothForms(twin, "p"), [
    { value: "40" },
    { value: "40" },
  ]);
});

test("fromCallbacks() recovers a missing file as null in both forms, and fails on other codes", async () => {
  for (const code of ["ENOENT", "EACCES"]) {
    const { sync, async } = fakeCallbacks({ code });
    const twin = fromCallbacks(sync, async, { recover: missingAsNull });
    const expected = code === "ENOENT" ? { value: null } : { code };
    assert.deepEqual(await bothForms(twin, "p"), [expected, expected]);
  }
});

test("fromPromises() gives a failure its code before recover sees it, in both forms", async () => {
  const bare = () => new Error("no code yet");
  const row = fromPromises((error) =>
    Object.assign(error as Error, { code: "ENOENT" })
  );
  const twin = row(
    (_path: string): number => {
      throw bare();
    },
    (_path) => Promise.reject(bare()),
    { recover: missingAsNull },
  );
  assert.deepEqual(await bothForms(twin, "p"), [
    { value: null },
    { value: null },
  ]);
});

test("fromPromises() rejects, never throws, when the call throws before its promise", async () => {
  const row = fromPromises((error) =>
    Object.assign(error as Error, { code: "EACCES" })
  );
  const twin = row(
    (_path: string): number => 1,
    (_path) => {
      throw new Error("refused before any system call");
    },
  );
  const pending = twin.async("p");
  assert.ok(pending instanceof Promise);
  assert.deepEqual(await asyncOutcomeOf(() => pending), { code: "EACCES" });
});

test("fromPromises() runs a synchronous-only row in both forms", async () => {
  const row = fromPromises((error) => error);
  const twin = row((n: number) => n + 1);
  assert.deepEqual(await bothForms(twin, 1), [{ value: 2 }, { value: 2 }]);
});

test(
  "dirSync() ignores a directory fsync the file system cannot do, and closes the directory, in both forms",
  {
    skip: isWindows ? "Windows has no directory fsync" : false,
  },
  async () => {
    for (const code of ["EINVAL", "ENOTSUP", "EIO"]) {
      const closed: string[] = [];
      const row = fromPromises((error) => error);
      const twin = dirSync(
        row((path: string) => path, (path) => Promise.resolve(path)),
        row((_dir: string): void => {
          throw systemError(code, "fsync");
        }),
        row((dir: string): void => void closed.push(dir)),
      );
      const expected = code === "EIO" ? { code } : { value: undefined };
      assert.deepEqual(await bothForms(twin, "d"), [expected, expected]);
      assert.deepEqual(closed, ["d", "d"]);
    }
  },
);

test("the adapter's two forms give the same answer or code for each operation", async () => {
  const { sync, async } = detectAdapter();
  await withTempDir(async (dir) => {
    const file = path.join(dir, "file");
    const missing = path.join(dir, "missing");
    const full = path.join(dir, "full");
    fs.writeFileSync(file, "content");
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, "entry"), "");
    const cases: [Request<unknown>, Outcome][] = [
      [request("lstat", missing), { value: null }],
      [request("stat", missing), { value: null }],
      [request("readFile", missing), { value: null }],
      [request("readLink", file), { code: "EINVAL" }],
      [request("readDir", missing), { code: "ENOENT" }],
      [request("rename", missing, file), { code: "ENOENT" }],
      [request("link", file, file), { code: "EEXIST" }],
      [request("remove", missing), { code: "ENOENT" }],
      [request("removeDir", missing), { code: "ENOENT" }],
      [request("removeDir", full), { code: "ENOTEMPTY" }],
      [request("createExclusive", file, 0o600), { code: "EEXIST" }],
      [request("syncDir", missing), { code: "ENOENT" }],
      [request("lstat", file), outcomeOf(() => sync.lstat(file))],
    ];
    for (const [req, expected] of cases) {
      const outcomes = [
        outcomeOf(() => runSync(perform(req), sync)),
        await asyncOutcomeOf(() => runAsync(perform(req), async)),
      ];
      assert.deepEqual(outcomes, [expected, expected], req.name);
    }
  });
});

test("removeDir removes only a directory, never a file or a link found at its name, on every runtime", async () => {
  await withTempDir(async (dir) => {
    const { sync, async } = detectAdapter();
    const file = path.join(dir, "file");
    const link = path.join(dir, "link");
    fs.writeFileSync(file, "precious");
    fs.symlinkSync("file", link);
    for (const removeDir of [sync.removeDir, async.removeDir]) {
      for (const notDir of [file, link]) {
        await assert.rejects(
          async () => await removeDir(notDir),
          (e: NodeJS.ErrnoException) => e.code === "ENOTDIR",
        );
      }
    }
    assert.equal(fs.readFileSync(file, "utf8"), "precious");
    assert.equal(fs.readlinkSync(link), "file");
  });
});
