/**
 * Another user who owns a directory on the target's path (root writing
 * `/home/user/sub/config`) can swap `sub` for a link to a directory of
 * root's between the library's steps. The library looks at the target, then
 * creates, fills and renames the temporary file: each step must act in the
 * directory where the target was looked at, or the looked-at file's owner
 * and bits go to a file elsewhere (as `fs.writeFile` never does), and a
 * failed write removes a file elsewhere. Here the "attacker" is the adapter
 * seam, which swaps the directory at an exact step.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { apis } from "./_apis.ts";
import {
  canDropPrivileges,
  faultAdapter,
  using,
  withoutHeldDirectories,
  withTempDir,
} from "./_fixtures.ts";
import { actingAt, described, world } from "./_swap_fixtures.ts";
import { withNobody } from "./_as_nobody.ts";
import { skipTest } from "./_skip.ts";
import { NOBODY } from "./_sticky_fixtures.ts";
import { openAtomic, writeFileAtomic } from "../mod.ts";

const temporary = ".config.";

/**
 * Root holds the directory of every file it replaces; another writer only
 * that of other users' files, which only root can make here.
 */
const asRoot = process.getuid?.() === 0
  ? false
  : "the attacker's file must be another user's, which only root can make";

for (const api of apis) {
  for (const again of [false, true]) {
    const which = again ? "a file it replaced before" : "a file";
    test(
      `${api.name} renames ${which} in the directory it looked in when a link is swapped in for it before the temporary file is created`,
      {
        skip: asRoot,
      },
      async () => {
        await withTempDir(async (dir) => {
          const w = world(dir);
          // A file it replaced before takes the fast path (see `prepare`).
          if (again) await api.write(w.target, "attacker's");
          await using(
            actingAt("createExclusive", temporary, "before", w.swap),
            () => api.write(w.target, "new"),
          );
          assert.deepEqual(described(w.victim), [0o644, "root's"]);
          assert.deepEqual(described(path.join(w.moved, "config")), [
            0o666,
            "new",
          ]);
          assert.deepEqual(fs.readdirSync(w.etc), ["config"]);
        });
      },
    );
  }

  test(
    `${api.name} keeps the bits of the file the path leads to when a link is swapped in for its directory after the lookup`,
    {
      skip: asRoot,
    },
    async () => {
      await withTempDir(async (dir) => {
        const w = world(dir);
        await using(
          actingAt("lstat", "config", "after", w.swap),
          () => api.write(w.target, "new").catch(() => {}),
        );
        // Written where the path leads once swapped, as `fs.writeFile` would,
        // but never with the bits of the attacker's file it first found.
        assert.equal(described(w.victim)[0], 0o644);
        assert.deepEqual(fs.readdirSync(w.etc), ["config"]);
      });
    },
  );
}

/** Aborts an `openAtomic` write after `meddle` renamed its temporary file in `dir` to `name`. */
async function abortAfterRename(dir: string, name: string): Promise<void> {
  const controller = new AbortController();
  await assert.rejects(
    openAtomic(path.join(dir, "target"), async (file) => {
      await file.write("partial");
      const temp = fs.readdirSync(dir).find((n) => n.startsWith(".target."));
      fs.renameSync(path.join(dir, temp as string), path.join(dir, name));
      controller.abort();
    }, { signal: controller.signal }),
  );
}

test("an aborted write never removes the file another user renamed its temporary file to", async () => {
  await withTempDir(async (dir) => {
    await abortAfterRename(dir, "chosen");
    assert.deepEqual(fs.readdirSync(dir).sort(), ["chosen"]);
  });
});

test("an aborted write that names its files by path never removes the file another user renamed its temporary file to", async () => {
  await withTempDir(async (dir) => {
    await using(
      withoutHeldDirectories(),
      () => abortAfterRename(dir, "chosen"),
    );
    assert.deepEqual(fs.readdirSync(dir).sort(), ["chosen"]);
  });
});

test("a write that names its files by path still removes its temporary file from a directory renamed meanwhile", async () => {
  await withTempDir(async (dir) => {
    const sub = path.join(dir, "sub");
    fs.mkdirSync(sub);
    const controller = new AbortController();
    await using(withoutHeldDirectories(), () =>
      assert.rejects(
        openAtomic(path.join(sub, "target"), async (file) => {
          await file.write("partial");
          fs.renameSync(sub, path.join(dir, "moved"));
          controller.abort();
        }, { signal: controller.signal }),
      ));
    assert.deepEqual(fs.readdirSync(path.join(dir, "moved")), []);
  });
});

test(
  "writes queued past the cap of writes waiting with their files open still rename in the directory they looked in when a link is swapped in for it",
  {
    skip: asRoot,
  },
  async () => {
    await withTempDir(async (dir) => {
      const w = world(dir);
      let finish = () => {};
      const slow = new ReadableStream<Uint8Array>({
        start: (c) => c.enqueue(new TextEncoder().encode("slow")),
        pull: (c) =>
          new Promise<void>((resolve) => finish = resolve).then(() =>
            c.close()
          ),
      });
      const writes = [writeFileAtomic(w.target, slow)];
      // Past the 8 that wait with their files open (see `_async_phases.ts`).
      for (let n = 0; n < 16; n++) {
        writes.push(writeFileAtomic(w.target, `write ${n}`));
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      w.swap();
      finish();
      await Promise.all(writes);
      assert.deepEqual(described(w.victim), [0o644, "root's"]);
      assert.deepEqual(fs.readdirSync(w.etc), ["config"]);
      assert.deepEqual(described(path.join(w.moved, "config")), [
        0o666,
        "write 15",
      ]);
    });
  },
);

test("writeFileAtomic() run by another user, replacing root's file, renames in the directory it looked in when a link is swapped in for it", async (t) => {
  const reason = canDropPrivileges();
  if (reason !== null) return skipTest(t, reason);
  await withNobody((asNobody, shared) => {
    const base = path.dirname(shared);
    // A directory anyone may rename entries in (not sticky), holding a
    // root file anyone may write; and a private file of the writer's own.
    const open = path.join(base, "open");
    const sub = path.join(open, "sub");
    fs.mkdirSync(sub, { recursive: true });
    fs.chmodSync(open, 0o777);
    fs.chmodSync(sub, 0o777);
    const target = path.join(sub, "config");
    fs.writeFileSync(target, "root's");
    fs.chmodSync(target, 0o666);
    const home = path.join(base, "home");
    const own = path.join(home, "config");
    fs.writeFileSync(own, "nobody's");
    fs.chownSync(own, NOBODY, NOBODY);
    fs.chmodSync(own, 0o600);
    assert.equal(asNobody("swap", target, home), "ok");
    // The root file's bits never reach the writer's private file.
    assert.deepEqual(described(own), [0o600, "nobody's"]);
    assert.equal(
      fs.readFileSync(path.join(`${sub}.moved`, "config"), "utf8"),
      "new",
    );
  });
});

for (const api of apis) {
  test(
    `${api.name} replaces a file that other writers keep replacing between its lookups, rather than fail with EAGAIN`,
    {
      skip: asRoot,
    },
    async () => {
      await withTempDir(async (dir) => {
        const target = path.join(dir, "shared.json");
        fs.writeFileSync(target, "first");
        fs.chmodSync(target, 0o640);
        // Another writer's rename lands after every lookup by path.
        const adapter = faultAdapter([]);
        let n = 0;
        const replaced = () => {
          const other = path.join(dir, `other${++n}`);
          fs.writeFileSync(other, `theirs ${n}`);
          fs.chmodSync(other, 0o640);
          fs.renameSync(other, target);
        };
        const lstat = adapter.sync.lstat;
        adapter.sync.lstat = (name) => {
          const entry = lstat(name);
          if (name === target) replaced();
          return entry;
        };
        const lstatAsync = adapter.async.lstat;
        adapter.async.lstat = async (name) => {
          const entry = await lstatAsync(name);
          if (name === target) replaced();
          return entry;
        };
        await using(adapter, () => api.write(target, "mine"));
        assert.deepEqual(described(target), [0o640, "mine"]);
        assert.deepEqual(fs.readdirSync(dir), ["shared.json"]);
      });
    },
  );
}
