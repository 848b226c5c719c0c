/**
 * POSIX ACLs (set with setfacl(1)): a directory's default ACL does not
 * narrow a file the library replaces. What ACLs lose is in the README.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { apis } from "./_apis.ts";
import { withTempDir } from "./_fixtures.ts";

/** Runs setfacl with `args`; a reason to skip if it cannot. */
function setfacl(...args: string[]): string | null {
  if (process.platform !== "linux") return "setfacl is for Linux here";
  const run = spawnSync("setfacl", args, { encoding: "utf8" });
  if (run.error) return "setfacl (Debian acl) is not installed";
  return run.status === 0 ? null : `setfacl failed: ${run.stderr.trim()}`;
}

for (const api of apis) {
  test(`${api.name} keeps a file's bits in a directory whose default ACL is narrower`, async (t) => {
    await withTempDir(async (dir) => {
      const shared = path.join(dir, "shared");
      fs.mkdirSync(shared);
      const file = path.join(shared, "config");
      fs.writeFileSync(file, "old");
      fs.chmodSync(file, 0o644);
      // New files in `shared` get 0600 whatever the umask.
      const skip = setfacl("-d", "-m", "u::rw-,g::---,o::---", shared);
      if (skip !== null) return void t.skip(skip);
      await api.write(file, "new");
      assert.equal(fs.statSync(file).mode & 0o777, 0o644);
    });
  });
}
