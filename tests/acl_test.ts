/**
 * POSIX ACLs (set with setfacl(1)): whoever could access a replaced file can
 * access the new one, and no one else; a directory's default ACL neither
 * narrows a replaced file nor adds to it. The tests on real ACLs skip where
 * the runtime cannot see ACLs (Node; Deno without `--allow-ffi`): what is
 * lost there is in the README. The tests through the adapter seam run
 * everywhere.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { apis } from "./_apis.ts";
import {
  faultAdapter,
  root,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { detectAdapter } from "../src/runtime/detect.ts";
import type { AsyncFsOps, FsOps } from "../src/runtime/types.ts";
import { skipTest } from "./_skip.ts";

/** Runs `command` (setfacl or getfacl) with `args`: its output, or a reason to skip. */
function acl(command: string, ...args: string[]): { out: string } | string {
  if (process.platform !== "linux") return `${command} is for Linux here`;
  const run = spawnSync(command, args, { encoding: "utf8" });
  if (run.error) return `${command} (Debian acl) is not installed`;
  if (run.status !== 0) return `${command} failed: ${run.stderr.trim()}`;
  return { out: run.stdout };
}

/** `file`'s ACL as getfacl shows it, without the header. */
function aclOf(file: string): string {
  const shown = acl("getfacl", "--omit-header", "--absolute-names", file);
  if (typeof shown === "string") throw new Error(shown);
  return shown.out;
}

/**
 * Why ACLs cannot be tested on `file` here (no setfacl, a file system or
 * runtime without them), or `null`: they can.
 */
function noAcls(file: string, ...setfacl: string[]): string | null {
  const set = acl("setfacl", ...setfacl);
  if (typeof set === "string") return set;
  if (detectAdapter().sync.readAcl(file) === undefined) {
    return "this runtime cannot see ACLs (Node; Deno without --allow-ffi): see the README";
  }
  return null;
}

/** A 0600 secret in `dir` that `nobody` may read and write through its ACL. */
function sharedSecret(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "secret");
  fs.writeFileSync(file, "old");
  fs.chmodSync(file, 0o600);
  return file;
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
      const skip = acl("setfacl", "-d", "-m", "u::rw-,g::---,o::---", shared);
      if (typeof skip === "string") return void skipTest(t, skip);
      await api.write(file, "new");
      assert.equal(fs.statSync(file).mode & 0o777, 0o644);
    });
  });

  test(`${api.name} keeps a file's access ACL: named users keep their access, the owning group gains none`, async (t) => {
    await withTempDir(async (dir) => {
      const file = sharedSecret(dir);
      const skip = noAcls(file, "-m", "u:nobody:rw-", file);
      if (skip !== null) return void skipTest(t, skip);
      const before = aclOf(file);
      assert.match(before, /^group::---$/m);

      await api.write(file, "new");

      assert.equal(fs.readFileSync(file, "utf8"), "new");
      assert.equal(aclOf(file), before);
    });
  });

  test(`${api.name} through a symbolic link keeps the ACL of the file it points to`, async (t) => {
    await withTempDir(async (dir) => {
      const file = sharedSecret(dir);
      const link = path.join(dir, "link");
      fs.symlinkSync("secret", link);
      const skip = noAcls(file, "-m", "u:nobody:rw-", file);
      if (skip !== null) return void skipTest(t, skip);
      const before = aclOf(file);

      await api.write(link, "new");

      assert.equal(fs.readlinkSync(link), "secret");
      assert.equal(fs.readFileSync(file, "utf8"), "new");
      assert.equal(aclOf(file), before);
    });
  });

  test(`${api.name} does not give a file without an ACL its directory's default ACL`, async (t) => {
    await withTempDir(async (dir) => {
      const file = oldFile(dir);
      fs.chmodSync(file, 0o640);
      const skip = noAcls(file, "-d", "-m", "u:nobody:rw-", dir);
      if (skip !== null) return void skipTest(t, skip);
      const before = aclOf(file);

      await api.write(file, "new");

      assert.equal(aclOf(file), before);
      assert.doesNotMatch(aclOf(file), /nobody/);
      assert.equal(fs.statSync(file).mode & 0o777, 0o640);
    });
  });

  test(`${api.name} with \`mode\` keeps a file's ACL entries and sets its mask, as chmod does`, async (t) => {
    await withTempDir(async (dir) => {
      const file = sharedSecret(dir);
      const skip = noAcls(file, "-m", "u:nobody:rw-", file);
      if (skip !== null) return void skipTest(t, skip);
      // What chmod 640 makes of the same file and ACL.
      const chmodded = sharedSecret(path.join(dir, "chmodded"));
      const set = acl("setfacl", "-m", "u:nobody:rw-", chmodded);
      if (typeof set === "string") throw new Error(set);
      fs.chmodSync(chmodded, 0o640);

      await api.write(file, "new", { mode: 0o640 });

      assert.equal(fs.statSync(file).mode & 0o777, 0o640);
      assert.equal(
        aclOf(file).replace(file, ""),
        aclOf(chmodded).replace(chmodded, ""),
      );
      assert.match(aclOf(file), /^user:nobody:rw-\s+#effective:r--$/m);
    });
  });

  test(`${api.name} gives a new file its directory's default ACL, as a plain create does`, async (t) => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "new");
      const plain = path.join(dir, "plain");
      const skip = noAcls(dir, "-d", "-m", "u:nobody:rw-", dir);
      if (skip !== null) return void skipTest(t, skip);
      fs.writeFileSync(plain, "plain");

      await api.write(file, "new");

      assert.equal(aclOf(file), aclOf(plain));
      assert.match(aclOf(file), /^user:nobody:rw-$/m);
    });
  });
}

/**
 * A fault adapter on which every file has the ACL `stored` (not a real one),
 * its operations recorded in `calls`. Setting an ACL records it and gives
 * the file the bits an ACL with a mask of `rw-` gives (0o660), as the kernel
 * does; `modes` collects the temporary file's bits as each write starts.
 */
function fakeAcls(stored: Uint8Array | null) {
  const adapter = faultAdapter([]);
  const given: (Uint8Array | null)[] = [];
  const modes: number[] = [];
  let temp = "";
  const sync = adapter.sync as FsOps;
  const async = adapter.async as AsyncFsOps;
  sync.readAcl = () => (adapter.calls.push("readAcl"), stored);
  async.readAcl = () => Promise.resolve(sync.readAcl(""));
  sync.writeAcl = (_file, at, value) => {
    adapter.calls.push("writeAcl");
    given.push(value);
    temp = at;
    if (value !== null) fs.chmodSync(at, 0o660);
  };
  async.writeAcl = (file, at, value) =>
    Promise.resolve(sync.writeAcl(file, at, value));
  const { write: writeSync } = sync;
  const { write, chmod } = async;
  const noteMode = () => temp && modes.push(fs.statSync(temp).mode & 0o777);
  sync.write = (file, bytes) => (noteMode(), writeSync(file, bytes));
  async.write = (file, bytes) => (noteMode(), write(file, bytes));
  // A slow chmod: a write that does not wait for it starts before it ends.
  async.chmod = async (file, at, mode) => {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return await chmod(file, at, mode);
  };
  return { adapter, given, modes };
}

const ACL = new Uint8Array([2, 0, 0, 0, 1, 0, 6, 0, 255, 255, 255, 255]);

/** An existing file in `dir`, holding "old". */
function oldFile(dir: string): string {
  const file = path.join(dir, "config");
  fs.writeFileSync(file, "old");
  return file;
}

for (const api of apis) {
  test(`${api.name} gives the temporary file the target's ACL before any byte is written`, async () => {
    await withTempDir(async (dir) => {
      const file = oldFile(dir);
      const { adapter, given } = fakeAcls(ACL);

      await using(adapter, () => api.write(file, "new"));

      assert.deepEqual(given, [ACL]);
      const calls = adapter.calls.map((call) => call.split(":")[0]);
      assert.ok(
        calls.indexOf("writeAcl") < calls.indexOf("write"),
        calls.join(),
      );
    });
  });

  test(`${api.name} takes away an ACL the temporary file got where the target had none`, async () => {
    await withTempDir(async (dir) => {
      const file = oldFile(dir);
      const { adapter, given } = fakeAcls(null);

      await using(adapter, () => api.write(file, "new"));

      assert.deepEqual(given, [null]);
    });
  });

  test(`${api.name} leaves ACLs alone for a new file`, async () => {
    await withTempDir(async (dir) => {
      const { adapter } = fakeAcls(ACL);

      await using(adapter, () => api.write(path.join(dir, "new"), "new"));

      assert.ok(!adapter.calls.some((call) => call.endsWith("Acl")));
    });
  });

  for (
    const [mode, what] of [
      [0o600, ""],
      [0o2700, ", and a set-ID one's bits after the last"],
    ] as const
  ) {
    test(`${api.name} with an ACL narrows the bits to \`mode\` 0o${mode.toString(8)} before any byte is written${what}`, async () => {
      await withTempDir(async (dir) => {
        const file = oldFile(dir);
        fs.chmodSync(file, 0o660); // the ACL's mask, as stat shows it
        const { adapter, modes } = fakeAcls(ACL);

        await using(adapter, () => api.write(file, "new", { mode }));

        assert.deepEqual(modes, [mode & 0o777]);
        assert.equal(fs.statSync(file).mode & 0o7777, mode);
      });
    });
  }

  test(`${api.name} fails with the code of an ACL that cannot be read, and leaves the target`, async () => {
    await withTempDir(async (dir) => {
      const file = oldFile(dir);
      const adapter = faultAdapter([{ op: "readAcl", code: "EIO" }]);

      await assert.rejects(
        using(adapter, () => api.write(file, "new")),
        { code: "EIO", operation: "read ACL", path: file },
      );
      assert.equal(fs.readFileSync(file, "utf8"), "old");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${api.name} fails with the code of an ACL that cannot be set, and leaves the target`, async () => {
    await withTempDir(async (dir) => {
      const file = oldFile(dir);
      const { adapter } = fakeAcls(ACL);
      const sync = adapter.sync as FsOps;
      sync.writeAcl = () => {
        throw Object.assign(new Error("EPERM: setxattr"), { code: "EPERM" });
      };
      (adapter.async as AsyncFsOps).writeAcl = () =>
        Promise.reject(Object.assign(new Error("EPERM"), { code: "EPERM" }));
      // The temporary file has none (the target has ACL).
      const isTemp = (at: string) =>
        tempsIn(dir).some((name) => at.endsWith(name));
      sync.readAcl = (at) => isTemp(at) ? null : ACL;
      (adapter.async as AsyncFsOps).readAcl = (at) =>
        Promise.resolve(sync.readAcl(at));

      await assert.rejects(
        using(adapter, () => api.write(file, "new")),
        { code: "EPERM", operation: "set ACL" },
      );
      assert.equal(fs.readFileSync(file, "utf8"), "old");
      assert.deepEqual(tempsIn(dir), []);
    });
  });
}

for (const api of apis) {
  test(`${api.name} replaces a file without ACL where removing the new file's fails but it has none (exFAT through FUSE, to anyone but the owner it shows)`, async () => {
    await withTempDir(async (dir) => {
      const file = oldFile(dir);
      const { adapter } = fakeAcls(null);
      const refuse = () => {
        throw Object.assign(new Error("EPERM: removexattr"), { code: "EPERM" });
      };
      (adapter.sync as FsOps).writeAcl = refuse;
      (adapter.async as AsyncFsOps).writeAcl = () =>
        Promise.resolve().then(refuse);
      await using(adapter, () => api.write(file, "new"));
      assert.equal(fs.readFileSync(file, "utf8"), "new");
      assert.deepEqual(tempsIn(dir), []);
    });
  });
}

/** Both forms of the real adapter's `readAcl` for `file`, sync first. */
async function readAclBoth(file: string): Promise<unknown[]> {
  const { sync, async } = detectAdapter();
  const outcome = (call: () => unknown) => {
    try {
      return call();
    } catch (error) {
      return (error as { code?: string }).code;
    }
  };
  let later: unknown;
  try {
    later = await async.readAcl(file);
  } catch (error) {
    later = (error as { code?: string }).code;
  }
  return [outcome(() => sync.readAcl(file)), later];
}

test("the adapter reads no ACL (null) for a file without one or a missing file, and fails with ENOTDIR through a file", async (t) => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "plain");
    fs.writeFileSync(file, "");
    const skip = noAcls(file, "-b", file);
    if (skip !== null) return void skipTest(t, skip);
    assert.deepEqual(await readAclBoth(file), [null, null]);
    assert.deepEqual(await readAclBoth(path.join(dir, "missing")), [
      null,
      null,
    ]);
    assert.deepEqual(await readAclBoth(path.join(file, "below")), [
      "ENOTDIR",
      "ENOTDIR",
    ]);
  });
});

test("the adapter copies an ACL too long for its first read, and removes one", async (t) => {
  await withTempDir(async (dir) => {
    const from = path.join(dir, "from");
    const to = path.join(dir, "to");
    fs.writeFileSync(from, "");
    // 40 named users: 4 + 44 × 8 bytes, more than the first read's room.
    const users = Array.from({ length: 40 }, (_, i) => `u:${20000 + i}:r`);
    const skip = noAcls(from, "-m", users.join(","), from);
    if (skip !== null) return void skipTest(t, skip);
    const { sync, async } = detectAdapter();
    const [acl, sameAcl] = await readAclBoth(from);
    assert.ok(acl instanceof Uint8Array && acl.length === 4 + 44 * 8);
    assert.deepEqual(sameAcl, acl);

    const file = sync.createExclusive(to, 0o600);
    try {
      sync.writeAcl(file, to, acl);
      assert.equal(aclOf(to).replace(to, ""), aclOf(from).replace(from, ""));
      await async.writeAcl(file, to, null);
      assert.doesNotMatch(aclOf(to), /user:20000/);
      assert.deepEqual(await readAclBoth(to), [null, null]);
    } finally {
      sync.close(file);
    }
  });
});

/** Runs a Deno child under `flags` that overwrites `file`: its exit status and stderr. */
function denoWrites(file: string, flags: string[]): string | null {
  const deno = path.join(root, "node_modules", ".bin", "deno");
  const mod = new URL("../mod.ts", import.meta.url).href;
  const code = `import { writeFileAtomic } from ${JSON.stringify(mod)};
await writeFileAtomic(${JSON.stringify(file)}, "new");`;
  const script = path.join(path.dirname(file), "child.ts");
  fs.writeFileSync(script, code);
  const run = spawnSync(deno, ["run", "--no-prompt", ...flags, script], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  return run.status === 0 ? null : `deno exited ${run.status}: ${run.stderr}`;
}

test("Deno keeps a file's ACL with --allow-ffi, and without it still writes the file", async (t) => {
  if (!fs.existsSync(path.join(root, "node_modules", ".bin", "deno"))) {
    return void skipTest(t, "Deno is not installed here");
  }
  await withTempDir((dir) => {
    const file = sharedSecret(dir);
    const set = acl("setfacl", "-m", "u:nobody:rw-", file);
    if (typeof set === "string") return void skipTest(t, set);
    const before = aclOf(file);
    const readWrite = [`--allow-read=${dir}`, `--allow-write=${dir}`];

    assert.equal(denoWrites(file, [...readWrite, "--allow-ffi"]), null);
    assert.equal(aclOf(file), before);

    assert.equal(denoWrites(file, readWrite), null);
    assert.equal(fs.readFileSync(file, "utf8"), "new");
    assert.doesNotMatch(aclOf(file), /nobody/);
  });
});

test("a write in a worker thread keeps a file's ACL (each thread finds its own errno)", async (t) => {
  const Web = (globalThis as { Worker?: typeof Worker }).Worker;
  await withTempDir(async (dir) => {
    const file = sharedSecret(dir);
    const skip = noAcls(file, "-m", "u:nobody:rw-", file);
    if (skip !== null) return void skipTest(t, skip);
    if (Web === undefined) return void skipTest(t, "no web Worker here");
    const before = aclOf(file);
    // A file without an ACL: reading its ACL fails with ENODATA, which the
    // worker must read from its own thread's errno.
    const plain = path.join(dir, "plain");
    fs.writeFileSync(plain, "old");
    const script = path.join(dir, "worker.ts");
    const mod = new URL("../mod.ts", import.meta.url).href;
    fs.writeFileSync(
      script,
      `import { writeFileAtomic } from ${JSON.stringify(mod)};
await writeFileAtomic(${JSON.stringify(file)}, "from a worker");
await writeFileAtomic(${JSON.stringify(plain)}, "from a worker");
postMessage("done");`,
    );
    const worker = new Web(new URL(`file://${script}`).href, {
      type: "module",
    });
    try {
      const said = await new Promise((resolve, reject) => {
        worker.onmessage = (event) => resolve(event.data);
        worker.onerror = (event) => reject(event);
      });
      assert.equal(said, "done");
    } finally {
      worker.terminate();
    }
    assert.equal(fs.readFileSync(plain, "utf8"), "from a worker");
    assert.equal(fs.readFileSync(file, "utf8"), "from a worker");
    assert.equal(aclOf(file), before);
  });
});
