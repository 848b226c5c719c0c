/**
 * Two copies of the library in one process (two dependencies each bringing
 * their own, or the npm build beside the JSR source) share the thread's
 * state: one call order per file.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as first from "../mod.ts";
import { read, withTempDir } from "./_fixtures.ts";
import { loadSecondCopy } from "./_second_copy.ts";

const second = await loadSecondCopy();

test("writeFileAtomic() calls through two copies rename in call order", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const big = "x".repeat(8 << 20);
    for (let round = 0; round < 20; round++) {
      await Promise.all([
        first.writeFileAtomic(target, `first ${round} ${big}`),
        second.writeFileAtomic(target, `second ${round}`),
      ]);
      assert.equal(read(target), `second ${round}`);
    }
  });
});

test("writeFileAtomic() through a second copy keeps the mode 0o600 that an earlier call through the first copy gave", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "f");
    const big = "y".repeat(8 << 20);
    for (let round = 0; round < 10; round++) {
      fs.writeFileSync(target, "public");
      fs.chmodSync(target, 0o644);
      await Promise.all([
        first.writeFileAtomic(target, "secret", { mode: 0o600 }),
        second.writeFileAtomic(target, `later ${round} ${big}`),
      ]);
      assert.ok(read(target).startsWith(`later ${round} y`), "order lost");
      assert.equal(fs.statSync(target).mode & 0o777, 0o600);
    }
  });
});
