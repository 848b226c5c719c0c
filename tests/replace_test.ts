/**
 * The atomic-replace algorithm, specified through each of the three APIs
 * (writeFileAtomic, writeFileAtomicSync, openAtomic). Failure paths are
 * driven by the fault-injecting adapter over the real file system.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { runInNewContext } from "node:vm";
import { apis } from "./_apis.ts";
import { type Mount, mount, mountImage } from "./_mounts.ts";
import { sh } from "./_commands.ts";
import { Skip, skipTest } from "./_skip.ts";
import { openAtomic, writeFileAtomic, writeFileAtomicSync } from "../mod.ts";
import type { EntryInfo, OpName } from "../src/runtime/types.ts";
import { spawnSync } from "node:child_process";
import { mkfifo } from "./_path_fixtures.ts";
import {
  canDropPrivileges,
  doneButInterrupted,
  failsWith,
  type Fault,
  type FaultAdapter,
  faultAdapter,
  ownedDirectory,
  ownership,
  read,
  root,
  scriptCommand,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";

function modeOf(file: string): number {
  return fs.statSync(file).mode & 0o7777;
}

/** Writes "old" to `file`, runs `fn`, asserts the target kept "old" and no temp is left. */
/**
 * `adapter`, where every file shows the bits 0o644, as on a file system that
 * keeps no modes (fusefat shows its mount's one mode for every file).
 */
function oneMode(adapter: FaultAdapter): FaultAdapter {
  for (const ops of [adapter.sync, adapter.async]) {
    const stat = ops.stat as (path: string) => unknown;
    (ops as { stat: unknown }).stat = (at: string) => {
      const shown = (entry: EntryInfo | null) =>
        entry && { ...entry, mode: 0o644 };
      const found = stat(at);
      return found instanceof Promise
        ? found.then(shown)
        : shown(found as EntryInfo | null);
    };
  }
  return adapter;
}

async function keepsOld(
  dir: string,
  file: string,
  fn: () => Promise<unknown>,
): Promise<void> {
  fs.writeFileSync(file, "old");
  await fn();
  assert.equal(read(file), "old");
  assert.deepEqual(tempsIn(dir), []);
}

/** Why a test that gives the file to another user skips: it needs root. */
const AS_ROOT = {
  skip: process.getuid?.() === 0
    ? false
    : "needs root to give the file to another user",
};

/** `dir/f.txt`, holding "old", with bits `mode`, as user and group 1234's. */
function anotherUsersFile(dir: string, mode: number): string {
  const file = path.join(dir, "f.txt");
  fs.writeFileSync(file, "old");
  fs.chmodSync(file, mode);
  fs.chownSync(file, 1234, 1234);
  return file;
}

for (const api of apis) {
  const { name, fails } = api;

  test(`${name} creates a new file with the content`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "new.txt");
      await api.write(file, "hello");
      assert.equal(read(file), "hello");
      assert.deepEqual(fs.readdirSync(dir), ["new.txt"]);
    });
  });

  test(`${name} replaces the content of an existing file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      fs.writeFileSync(file, "a much longer old content");
      await api.write(file, new TextEncoder().encode("new"));
      assert.equal(read(file), "new");
    });
  });

  test(`${name} writes an empty file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      fs.writeFileSync(file, "old");
      await api.write(file, "");
      assert.equal(read(file), "");
    });
  });

  test(`${name} accepts a file: URL`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "url.txt");
      await api.write(pathToFileURL(file), "via url");
      assert.equal(read(file), "via url");
    });
  });

  test(`${name} gives a new file 0o666 less the umask`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      await api.write(file, "x");
      assert.equal(modeOf(file), 0o666 & ~process.umask());
    });
  });

  // 0o666 less the umask, under umasks other than the usual 0o022 and 0o077.
  for (
    const { umask, mode } of [
      { umask: "002", mode: "664" },
      { umask: "000", mode: "666" },
    ]
  ) {
    test(`${name} gives a new file 0o${mode} under umask 0o${umask}`, async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "f.txt");
        const previous = process.umask(parseInt(umask, 8));
        try {
          await api.write(file, "x");
        } finally {
          process.umask(previous);
        }
        assert.equal(modeOf(file), parseInt(mode, 8));
      });
    });
  }

  test(`${name} keeps the permission bits of the file it replaces`, async () => {
    await withTempDir(async (dir) => {
      for (const mode of [0o600, 0o640, 0o755, 0o444, 0o666]) {
        const file = path.join(dir, `m${mode.toString(8)}`);
        fs.writeFileSync(file, "old");
        fs.chmodSync(file, mode);
        await api.write(file, "new");
        assert.equal(modeOf(file), mode, `mode ${mode.toString(8)}`);
      }
    });
  });

  test(`${name} applies the mode option exactly, umask or not`, async () => {
    await withTempDir(async (dir) => {
      const fresh = path.join(dir, "fresh");
      await api.write(fresh, "x", { mode: 0o666 });
      assert.equal(modeOf(fresh), 0o666);
      const existing = path.join(dir, "existing");
      fs.writeFileSync(existing, "old", { mode: 0o644 });
      await api.write(existing, "x", { mode: 0o600 });
      assert.equal(modeOf(existing), 0o600);
    });
  });

  test(`${name} never creates the temporary file wider than the target`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "secret");
      fs.writeFileSync(file, "old", { mode: 0o600 });
      fs.chmodSync(file, 0o600);
      const adapter = faultAdapter([]);
      const modes = createModes(adapter);
      await using(adapter, async () => {
        await api.write(file, "new secret");
        await api.write(file, "newer secret"); // the fast path's guess
      });
      for (const mode of modes) assert.equal(mode & 0o077, 0, mode.toString(8));
      assert.equal(modeOf(file), 0o600);
    });
  });

  test(`${name} creates one temporary file for a first write, new or overwrite`, async () => {
    await withTempDir(async (dir) => {
      const existing = path.join(dir, "existing");
      fs.writeFileSync(existing, "old", { mode: 0o666 & ~process.umask() });
      for (const file of [existing, path.join(dir, "fresh")]) {
        const adapter = faultAdapter([]); // a fresh process, as far as the library knows
        await using(adapter, () => api.write(file, "new"));
        const creates = adapter.calls.filter((c) =>
          c.startsWith("createExclusive")
        );
        assert.equal(creates.length, 1, path.basename(file));
      }
    });
  });

  test(`${name} keeps an existing file's bits on every write, not only the first`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "shared.txt");
      fs.writeFileSync(file, "old");
      fs.chmodSync(file, 0o666); // wider than the umask allows a new file
      for (const content of ["first", "second", ""]) {
        await api.write(file, content);
        assert.equal(modeOf(file), 0o666, JSON.stringify(content));
      }
    });
  });

  test(`${name} gives a new file the umask's bits where a file it replaced before is gone`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "again");
      fs.writeFileSync(file, "old", { mode: 0o600 });
      fs.chmodSync(file, 0o600);
      await api.write(file, "first");
      await api.write(file, "second");
      fs.rmSync(file);
      await api.write(file, "anew");
      assert.equal(modeOf(file), 0o666 & ~process.umask());
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} writes through a link put where it replaced a file before`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "config");
      fs.mkdirSync(path.join(dir, "real"));
      const real = path.join(dir, "real", "config");
      fs.writeFileSync(real, "real");
      fs.writeFileSync(file, "old");
      await api.write(file, "plain");
      fs.rmSync(file);
      fs.symlinkSync(path.join("real", "config"), file);
      await api.write(file, "through the link");
      assert.equal(read(real), "through the link");
      assert.ok(fs.lstatSync(file).isSymbolicLink());
      assert.deepEqual(tempsIn(dir), []);
      assert.deepEqual(tempsIn(path.join(dir, "real")), []);
    });
  });

  test(`${name} keeps an existing file's bits and gives a new file the umask in force now`, async () => {
    await withTempDir(async (dir) => {
      const existing = path.join(dir, "existing");
      fs.writeFileSync(existing, "old");
      fs.chmodSync(existing, 0o644);
      await api.write(path.join(dir, "first"), "x"); // under the usual umask
      const previous = process.umask(0o077);
      try {
        await api.write(existing, "new");
        await api.write(path.join(dir, "fresh"), "new");
      } finally {
        process.umask(previous);
      }
      assert.equal(modeOf(existing), 0o644);
      assert.equal(modeOf(path.join(dir, "fresh")), 0o600);
    });
  });

  test(`${name} gives a new file 0o666 less the umask right after replacing a 0600 file`, async () => {
    await withTempDir(async (dir) => {
      const secret = path.join(dir, "secret");
      fs.writeFileSync(secret, "old", { mode: 0o600 });
      fs.chmodSync(secret, 0o600);
      await api.write(secret, "new");
      const fresh = path.join(dir, "fresh");
      await api.write(fresh, "new");
      assert.equal(modeOf(secret), 0o600);
      assert.equal(modeOf(fresh), 0o666 & ~process.umask());
    });
  });

  test(`${name} keeps permission bits when the runtime will not tell who it runs as`, async () => {
    await withTempDir(async (dir) => {
      const existing = path.join(dir, "existing");
      fs.writeFileSync(existing, "old");
      fs.chmodSync(existing, 0o664);
      const fresh = path.join(dir, "fresh");
      const adapter = faultAdapter([], { ids: () => null });
      await using(adapter, async () => {
        await api.write(existing, "new");
        await api.write(fresh, "new");
      });
      assert.equal(modeOf(existing), 0o664);
      assert.equal(modeOf(fresh), 0o666 & ~process.umask());
    });
  });

  test(`${name} writes through a symbolic link and keeps the link`, async () => {
    await withTempDir(async (dir) => {
      fs.mkdirSync(path.join(dir, "real"));
      const real = path.join(dir, "real", "data.txt");
      fs.writeFileSync(real, "old");
      const link = path.join(dir, "link.txt");
      fs.symlinkSync("real/data.txt", link);
      await api.write(link, "new");
      assert.ok(fs.lstatSync(link).isSymbolicLink());
      assert.equal(fs.readlinkSync(link), "real/data.txt");
      assert.equal(read(real), "new");
      assert.deepEqual(tempsIn(dir), []);
      assert.deepEqual(fs.readdirSync(path.join(dir, "real")), ["data.txt"]);
    });
  });

  test(`${name} follows a chain of links to the final file`, async () => {
    await withTempDir(async (dir) => {
      const real = path.join(dir, "real.txt");
      fs.writeFileSync(real, "old");
      fs.symlinkSync(real, path.join(dir, "one"));
      fs.symlinkSync("one", path.join(dir, "two"));
      await api.write(path.join(dir, "two"), "new");
      assert.equal(read(real), "new");
      assert.ok(fs.lstatSync(path.join(dir, "two")).isSymbolicLink());
      assert.ok(fs.lstatSync(path.join(dir, "one")).isSymbolicLink());
    });
  });

  test(`${name} creates the file a dangling link points to`, async () => {
    await withTempDir(async (dir) => {
      const link = path.join(dir, "link");
      fs.symlinkSync("target.txt", link);
      await api.write(link, "born");
      assert.ok(fs.lstatSync(link).isSymbolicLink());
      assert.equal(read(path.join(dir, "target.txt")), "born");
    });
  });

  test(`${name} ${fails} with ELOOP on a symbolic link loop`, async () => {
    await withTempDir(async (dir) => {
      fs.symlinkSync("b", path.join(dir, "a"));
      fs.symlinkSync("a", path.join(dir, "b"));
      await failsWith(api.write(path.join(dir, "a"), "x"), "ELOOP");
      assert.deepEqual(fs.readdirSync(dir).sort(), ["a", "b"]);
    });
  });

  test(`${name} ${fails} with EISDIR and leaves a directory target untouched`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "sub");
      fs.mkdirSync(target);
      fs.writeFileSync(path.join(target, "inside"), "kept");
      const error = await failsWith(api.write(target, "x"), "EISDIR");
      assert.match(error.message, /is a directory/);
      assert.match(error.message, new RegExp(`"${target}"`));
      assert.deepEqual(fs.readdirSync(target), ["inside"]);
      assert.deepEqual(fs.readdirSync(dir), ["sub"]);
    });
  });

  test(`${name} writes a target whose name is 255 bytes, with a temp name of at most 255`, async () => {
    await withTempDir(async (dir) => {
      for (const base of ["a".repeat(255), "é".repeat(127) + "x"]) {
        assert.equal(new TextEncoder().encode(base).length, 255);
        const file = path.join(dir, base);
        fs.writeFileSync(file, "old");
        const adapter = faultAdapter([]);
        await using(adapter, () => api.write(file, "new"));
        assert.equal(read(file), "new");
        const temps = adapter.calls
          .filter((call) => call.startsWith("createExclusive:"))
          .map((call) => call.slice("createExclusive:".length));
        assert.ok(temps.length > 0);
        for (const temp of temps) {
          assert.ok(new TextEncoder().encode(temp).length <= 255, temp);
          assert.ok(temp.startsWith("."), temp);
        }
      }
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} ${fails} with ENAMETOOLONG for a 256-byte name`, async () => {
    await withTempDir(async (dir) => {
      await failsWith(
        api.write(path.join(dir, "a".repeat(256)), "x"),
        "ENAMETOOLONG",
      );
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} ${fails} with ENOENT when the directory is missing`, async () => {
    await withTempDir(async (dir) => {
      await failsWith(api.write(path.join(dir, "no", "f"), "x"), "ENOENT");
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} creates missing parent directories with mkdir`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "a", "b", "c.txt");
      await api.write(file, "deep", { mkdir: true });
      assert.equal(read(file), "deep");
      assert.deepEqual(tempsIn(path.join(dir, "a", "b")), []);
    });
  });

  test(`${name} with overwrite: false creates an absent file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "once.txt");
      await api.write(file, "first", { overwrite: false });
      assert.equal(read(file), "first");
      assert.deepEqual(fs.readdirSync(dir), ["once.txt"]);
    });
  });

  test(`${name} with overwrite: false ${fails} with EEXIST and keeps the file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "once.txt");
      await keepsOld(dir, file, async () => {
        await failsWith(
          api.write(file, "second", { overwrite: false }),
          "EEXIST",
        );
      });
    });
  });

  test(`${name} with overwrite: false ${fails} with EEXIST at a dangling link, as O_EXCL does, and creates nothing where it leads`, async () => {
    await withTempDir(async (dir) => {
      fs.mkdirSync(path.join(dir, "elsewhere"));
      const planted = path.join(dir, "elsewhere", "planted");
      const file = path.join(dir, "out.txt");
      fs.symlinkSync(planted, file);
      await failsWith(api.write(file, "x", { overwrite: false }), "EEXIST");
      assert.equal(fs.existsSync(planted), false);
      assert.deepEqual(fs.readdirSync(dir).sort(), ["elsewhere", "out.txt"]);
    });
  });

  test(
    `${name} with overwrite: false ${fails} with EEXIST, as O_EXCL does, at a directory, a FIFO and a dir/. that exists, and leaves them`,
    {
      skip: process.platform === "win32" ? "no FIFOs on Windows" : false,
    },
    async () => {
      await withTempDir(async (dir) => {
        const sub = path.join(dir, "sub");
        fs.mkdirSync(sub);
        const fifo = path.join(dir, "fifo");
        const skip = mkfifo(fifo);
        for (
          const name of [sub, `${sub}${path.sep}.`, ...(skip ? [] : [fifo])]
        ) {
          await failsWith(api.write(name, "x", { overwrite: false }), "EEXIST");
        }
        assert.equal(fs.statSync(sub).isDirectory(), true);
        assert.deepEqual(fs.readdirSync(sub), []);
        if (!skip) assert.equal(fs.lstatSync(fifo).isFIFO(), true);
        assert.deepEqual(tempsIn(dir), []);
      });
    },
  );

  test(`${name} with overwrite: false ${fails} with EISDIR for a name/ that does not exist, as O_EXCL does`, async () => {
    await withTempDir(async (dir) => {
      const name = path.join(dir, "missing") + path.sep;
      await failsWith(api.write(name, "x", { overwrite: false }), "EISDIR");
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} fsyncs the file before the rename and the directory after it`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      const adapter = faultAdapter([]);
      await using(adapter, () => api.write(file, "durable"));
      const steps = adapter.calls
        .filter((c) => /^(write|sync|close|rename|syncDir)/.test(c))
        .map((c) => c.split(":")[0]);
      // Then the directory held open is closed, where it was held.
      const held = steps.length === 6 ? ["close"] : [];
      assert.deepEqual(steps, [
        "write",
        "sync",
        "close",
        "rename",
        "syncDir",
        ...held,
      ]);
      const syncDir = adapter.calls.find((c) => c.startsWith("syncDir:"));
      assert.equal(syncDir, `syncDir:${path.basename(dir)}`);
    });
  });

  test(`${name} with fsync: false flushes neither file nor directory`, async () => {
    await withTempDir(async (dir) => {
      const adapter = faultAdapter([]);
      await using(
        adapter,
        () => api.write(path.join(dir, "f"), "fast", { fsync: false }),
      );
      assert.equal(read(path.join(dir, "f")), "fast");
      assert.ok(
        !adapter.calls.some((c) => /^sync/.test(c)),
        adapter.calls.join(),
      );
    });
  });

  const faults: [string, Fault[], string][] = [
    [
      "the write fails with ENOSPC",
      [{ op: "write", code: "ENOSPC" }],
      "ENOSPC",
    ],
    [
      "a short write is followed by ENOSPC",
      [{ op: "write", code: "ENOSPC", shortWrite: 3 }],
      "ENOSPC",
    ],
    ["the fsync fails with EIO", [{ op: "sync", code: "EIO" }], "EIO"],
    ["the close fails with EIO", [{ op: "close", code: "EIO" }], "EIO"],
    ["the rename fails with EXDEV", [{ op: "rename", code: "EXDEV" }], "EXDEV"],
    [
      "the rename fails with EACCES",
      [{ op: "rename", code: "EACCES" }],
      "EACCES",
    ],
    [
      "the temporary file cannot be created (EACCES)",
      [{ op: "createExclusive", code: "EACCES" }],
      "EACCES",
    ],
    [
      "the target cannot be examined (EIO)",
      [{ op: "lstat", code: "EIO" }],
      "EIO",
    ],
    [
      "setting the mode fails with EPERM",
      [{ op: "chmod", code: "EPERM" }],
      "EPERM",
    ],
  ];
  for (const [when, list, code] of faults) {
    test(`${name} ${fails} with ${code}, keeps the target and leaves no temp when ${when}`, async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "f.txt");
        await keepsOld(dir, file, async () => {
          const adapter = faultAdapter(list);
          // A mode the umask would narrow, so that a chmod is needed.
          const options = list[0].op === "chmod" ? { mode: 0o666 } : {};
          const error = await using(
            adapter,
            () => failsWith(api.write(file, "new content", options), code),
          );
          assert.ok(
            error.cause instanceof Error,
            "keeps the original as cause",
          );
          assert.match(error.message, new RegExp(`Cannot replace "${file}"`));
        });
      });
    });
  }

  test(`${name} writes a buffer of 2 GiB or more in calls of at most 1 GiB`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "big");
      // Never touched, so never resident: the adapter below writes nothing.
      const big = new Uint8Array(2 ** 31 + 5);
      const adapter = faultAdapter([]);
      const lengths: number[] = [];
      const count = (bytes: Uint8Array) => lengths.push(bytes.length) && 0;
      adapter.sync.write = (_file, bytes) => (count(bytes), bytes.length);
      adapter.async.write = (_file, bytes) => (
        count(bytes), Promise.resolve(bytes.length)
      );
      await using(adapter, () => api.write(file, big));
      assert.deepEqual(lengths, [2 ** 30, 2 ** 30, 5]);
    });
  });

  test(`${name} resumes after a short write and writes every byte`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      const data = "0123456789".repeat(1000);
      const adapter = faultAdapter([
        { op: "write", code: "UNUSED", shortWrite: 7, times: 1 },
      ]);
      await using(adapter, () => api.write(file, data));
      assert.equal(read(file), data);
      assert.equal(adapter.calls.filter((c) => c === "write").length, 2);
    });
  });

  test(`${name} with overwrite: false ${fails} with the link's error and leaves no temp`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      const adapter = faultAdapter([{ op: "link", code: "EPERM" }]);
      await using(
        adapter,
        () => failsWith(api.write(file, "x", { overwrite: false }), "EPERM"),
      );
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} with overwrite: false ${fails} with EEXIST, and keeps the file, where the link's failure says EPERM with a file at the name (sshfs, when another client made it just before)`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "once.txt");
      const adapter = faultAdapter([{ op: "link", code: "EPERM" }]);
      await keepsOld(dir, file, async () => {
        const error = await using(
          adapter,
          () =>
            failsWith(api.write(file, "new", { overwrite: false }), "EEXIST"),
        );
        assert.equal((error.cause as { code?: string }).code, "EPERM");
      });
    });
  });

  test(`${name} replaces a file where chmod fails (ENOSYS) but the new file shows the bits asked already (FAT through fusefat, which shows every file with one mode)`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      fs.writeFileSync(file, "old");
      fs.chmodSync(file, 0o644);
      const adapter = oneMode(faultAdapter([{ op: "chmod", code: "ENOSYS" }]));
      await using(adapter, () => api.write(file, "new"));
      assert.equal(read(file), "new");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(
    `${name} ${fails} with chmod's EPERM, and keeps the file and its owner, where the chown was refused too, though the new file shows the bits asked (a mount that refuses both: bindfs --chown-deny --chmod-deny)`,
    AS_ROOT,
    async () => {
      await withTempDir(async (dir) => {
        const file = anotherUsersFile(dir, 0o600);
        const adapter = faultAdapter([
          { op: "chown", code: "EPERM" },
          { op: "chmod", code: "EPERM" },
        ]);
        await using(
          adapter,
          () => failsWith(api.write(file, "new"), "EPERM"),
        );
        assert.equal(read(file), "old");
        assert.equal(fs.statSync(file).uid, 1234);
        assert.deepEqual(tempsIn(dir), []);
      });
    },
  );

  test(
    `${name} goes on where chown fails with EACCES (sshfs's word for the server's refusal), as where it is refused: the file becomes the writer's, without the group's bits`,
    AS_ROOT,
    async () => {
      await withTempDir(async (dir) => {
        const file = anotherUsersFile(dir, 0o640);
        const adapter = faultAdapter([{ op: "chown", code: "EACCES" }]);
        await using(adapter, () => api.write(file, "new"));
        assert.equal(read(file), "new");
        const made = fs.statSync(file);
        assert.deepEqual([made.uid, made.mode & 0o777], [0, 0o600]);
        assert.deepEqual(tempsIn(dir), []);
      });
    },
  );

  for (const code of ["EIO", "EDQUOT"]) {
    test(
      `${name} ${fails} with chown's ${code}, and keeps another user's file, its owner and its bits (a failure, not a refusal)`,
      AS_ROOT,
      async () => {
        await withTempDir(async (dir) => {
          const file = anotherUsersFile(dir, 0o640);
          // Before, the write went on as if root were not allowed to give
          // files away: the file became root's, 0600, and "new".
          const adapter = faultAdapter([{ op: "chown", code }]);
          await using(adapter, () => failsWith(api.write(file, "new"), code));
          assert.equal(read(file), "old");
          const kept = fs.statSync(file);
          assert.deepEqual([kept.uid, kept.gid, kept.mode & 0o777], [
            1234,
            1234,
            0o640,
          ]);
          assert.deepEqual(tempsIn(dir), []);
        });
      },
    );
  }

  test(`${name} ${fails} with chmod's EACCES (a runtime's permissions), and keeps the file, though the new file shows the bits asked`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      fs.writeFileSync(file, "old");
      fs.chmodSync(file, 0o600);
      const adapter = faultAdapter([{ op: "chmod", code: "EACCES" }]);
      await using(adapter, () => failsWith(api.write(file, "new"), "EACCES"));
      assert.equal(read(file), "old");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} ${fails} with chmod's error, and keeps the file, where the new file does not show the bits asked`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      await keepsOld(dir, file, async () => {
        const adapter = faultAdapter([{ op: "chmod", code: "ENOSYS" }]);
        await using(
          adapter,
          () => failsWith(api.write(file, "new", { mode: 0o640 }), "ENOSYS"),
        );
      });
    });
  });

  test(`${name} with overwrite: false ${fails} with EPERM where link fails with EISDIR, as libuv reports Windows' exFAT`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      const adapter = faultAdapter([{ op: "link", code: "EISDIR" }]);
      const error = await using(
        adapter,
        () => failsWith(api.write(file, "x", { overwrite: false }), "EPERM"),
      );
      assert.match(error.message, /no hard links/);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} ${fails} with a committed error when only the directory fsync fails`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      fs.writeFileSync(file, "old");
      const adapter = faultAdapter([{ op: "syncDir", code: "EIO" }]);
      const error = await using(
        adapter,
        () => failsWith(api.write(file, "new"), "EIO"),
      );
      assert.equal(error.committed, true);
      assert.equal(error.operation, "fsync directory");
      assert.equal(read(file), "new");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} retries a rename that fails transiently where the platform says so (Windows)`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      fs.writeFileSync(file, "old");
      const adapter = faultAdapter(
        [{ op: "rename", code: "EBUSY", times: 3 }],
        { renameRetryCodes: new Set(["EPERM", "EBUSY", "EACCES"]) },
      );
      await using(adapter, () => api.write(file, "new"));
      assert.equal(read(file), "new");
      assert.equal(adapter.sleeps.length, 3);
      assert.ok(adapter.sleeps[0] < adapter.sleeps[1]);
      assert.ok(adapter.sleeps[1] < adapter.sleeps[2]);
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} gives up a transiently failing rename after a bounded backoff`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      await keepsOld(dir, file, async () => {
        const adapter = faultAdapter(
          [{ op: "rename", code: "EPERM" }],
          { renameRetryCodes: new Set(["EPERM", "EBUSY", "EACCES"]) },
        );
        await using(adapter, () => failsWith(api.write(file, "new"), "EPERM"));
        const total = adapter.sleeps.reduce((a, b) => a + b, 0);
        assert.ok(
          adapter.sleeps.length >= 3,
          `retried ${adapter.sleeps.length}`,
        );
        assert.ok(total <= 2000, `waited ${total} ms`);
      });
    });
  });

  test(`${name} retries removing its temporary file that a scanner still holds once the rename gave up (Windows)`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      await keepsOld(dir, file, async () => {
        const adapter = faultAdapter(
          [
            { op: "rename", code: "EBUSY" },
            { op: "remove", code: "EBUSY", times: 3 },
          ],
          { renameRetryCodes: new Set(["EPERM", "EBUSY", "EACCES"]) },
        );
        await using(adapter, () => failsWith(api.write(file, "new"), "EBUSY"));
      });
    });
  });

  for (const op of ["rename", "sync", "syncDir", "write"] as const) {
    test(`${name} makes ${op} again when a signal interrupted it (EINTR), as on every runtime`, async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "f.txt");
        fs.writeFileSync(file, "old");
        const adapter = faultAdapter([{ op, code: "EINTR", times: 2 }]);
        await using(adapter, () => api.write(file, "new"));
        assert.equal(read(file), "new");
        assert.deepEqual(tempsIn(dir), []);
        assert.equal(
          adapter.calls.filter((c) => c.split(":")[0] === op).length >= 3,
          true,
        );
      });
    });
  }

  test(`${name} with overwrite: false succeeds when its interrupted link made the file and the retry finds it there`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      await using(
        doneButInterrupted("link"),
        () => api.write(file, "new", { overwrite: false }),
      );
      assert.equal(read(file), "new");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} succeeds when its interrupted rename was made and the retry finds its temporary file gone`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      fs.writeFileSync(file, "old");
      await using(doneButInterrupted("rename"), () => api.write(file, "new"));
      assert.equal(read(file), "new");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} does not retry a failed rename on POSIX`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      const adapter = faultAdapter([{ op: "rename", code: "EACCES" }], {
        renameRetryCodes: new Set(),
      });
      await using(adapter, () => failsWith(api.write(file, "x"), "EACCES"));
      assert.deepEqual(adapter.sleeps, []);
    });
  });

  test(`${name} ${fails} with the signal's reason when the signal is already aborted`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      const reason = new Error("stop");
      await keepsOld(dir, file, async () => {
        await assert.rejects(
          api.write(file, "new", { signal: AbortSignal.abort(reason) }),
          (error) => error === reason,
        );
      });
    });
  });

  const badArguments: [string, () => Promise<void>][] = [
    ["an empty path", () => api.write("", "x")],
    ["a path with a NUL byte", () => api.write("a\0b", "x")],
    // Not Unicode: the runtimes write it as U+FFFD, another file's name.
    ["a path with a lone surrogate", () => api.write("x\uD800", "x")],
    ["a path that is a number", () => api.write(42 as unknown as string, "x")],
    [
      "an http: URL",
      () => api.write(new URL("http://example.com/x"), "x"),
    ],
    ["data that is a number", () => api.write("f", 42 as unknown as string)],
    [
      // As after postMessage(bytes, [bytes.buffer]): it reads as empty.
      "data whose ArrayBuffer was transferred (detached)",
      () => {
        const bytes = new TextEncoder().encode("lost");
        bytes.buffer.transfer();
        return api.write("f", bytes);
      },
    ],
    [
      // It reads as empty, as a detached one does.
      "data viewing a resizable ArrayBuffer shrunk out of its bounds",
      () => {
        const buffer = new ArrayBuffer(8, { maxByteLength: 16 });
        const bytes = new Uint8Array(buffer, 0, 8);
        buffer.resize(4);
        return api.write("f", bytes);
      },
    ],
    [
      "options that are a string",
      () => api.write("f", "x", "yes" as unknown as { fsync: boolean }),
    ],
    [
      "a non-boolean fsync option",
      () => api.write("f", "x", { fsync: "no" as unknown as boolean }),
    ],
    [
      "a non-boolean overwrite option",
      () => api.write("f", "x", { overwrite: 0 as unknown as boolean }),
    ],
    [
      "a non-number mode",
      () => api.write("f", "x", { mode: "644" as unknown as number }),
    ],
    [
      "a signal that is not an AbortSignal",
      () => api.write("f", "x", { signal: {} as AbortSignal }),
    ],
  ];
  for (const [what, call] of badArguments) {
    test(`${name} ${fails} with a TypeError for ${what}, touching no file`, async () => {
      await withTempDir(async (dir) => {
        const cwd = process.cwd();
        process.chdir(dir);
        try {
          await assert.rejects(call(), TypeError);
        } finally {
          process.chdir(cwd);
        }
        assert.deepEqual(fs.readdirSync(dir), []);
      });
    });
  }

  test(`${name} ${fails} with a RangeError for a mode out of range`, async () => {
    await withTempDir(async (dir) => {
      await assert.rejects(
        api.write(path.join(dir, "f"), "x", { mode: 0o10000 }),
        RangeError,
      );
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} keeps the owner of a file it replaces, when allowed to`, {
    skip: typeof process.getuid !== "function" || process.getuid() !== 0
      ? "only root may give a file to another user"
      : false,
  }, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "owned");
      fs.writeFileSync(file, "old", { mode: 0o640 });
      fs.chownSync(file, 65534, 65534);
      await api.write(file, "new");
      const stat = fs.statSync(file);
      assert.equal(stat.uid, 65534);
      assert.equal(stat.gid, 65534);
      assert.equal(stat.mode & 0o7777, 0o640);
    });
  });

  test(
    `${name} keeps the owner of a file it replaces when the runtime will not tell who it runs as`,
    {
      skip: typeof process.getuid !== "function" || process.getuid() !== 0
        ? "only root may give a file to another user"
        : false,
    },
    async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "tool");
        fs.writeFileSync(file, "old");
        fs.chownSync(file, 1000, 1000);
        fs.chmodSync(file, 0o6750);
        const adapter = faultAdapter([], { ids: () => null });
        await using(adapter, () => api.write(file, "new"));
        const stat = fs.statSync(file);
        assert.equal(`${stat.uid}:${stat.gid}`, "1000:1000");
        assert.equal(stat.mode & 0o7777, 0o6750);
      });
    },
  );

  test(`${name} drops the set-ID bits and narrows the group of a file it cannot give back, when the runtime will not tell who it runs as`, async () => {
    await withTempDir(async (dir) => {
      // Another user's set-ID program, rewritten by a writer whose chown is
      // refused: it becomes the writer's, and must not run as the writer.
      const file = path.join(dir, "tool");
      fs.writeFileSync(file, "old");
      fs.chmodSync(file, 0o6775);
      const adapter = faultAdapter([{ op: "chown", code: "EPERM" }], {
        ids: () => null,
      });
      const theirs = fs.statSync(file);
      const other = { uid: theirs.uid + 1, gid: theirs.gid + 1 };
      const lstat = adapter.sync.lstat;
      // The existing file looks like another user's, in another group.
      adapter.sync.lstat = (name) => {
        const entry = lstat(name);
        return name === file && entry ? { ...entry, ...other } : entry;
      };
      const lstatAsync = adapter.async.lstat;
      adapter.async.lstat = async (name) => {
        const entry = await lstatAsync(name);
        return name === file && entry ? { ...entry, ...other } : entry;
      };
      await using(adapter, () => api.write(file, "new"));
      assert.equal(read(file), "new");
      assert.equal(modeOf(file), 0o755);
    });
  });

  for (
    const [where, groupsFromDirectory] of [
      ["with the set-group-ID bit", setGroupIdDirectory],
      ["on a file system mounted with grpid", grpidDirectory],
      [
        "under an overlay whose upper layer is mounted with grpid",
        grpidOverlay,
      ],
      [
        "on a file system remounted with grpid after a first write there",
        grpidRemounted,
      ],
    ] as const
  ) {
    test(
      `${name} keeps a file's own group in a directory of another group ${where}`,
      {
        skip: typeof process.getuid !== "function" || process.getuid() !== 0
          ? "needs root: a directory of another group, and a mount"
          : false,
      },
      async (t) => {
        await withTempDir(async (dir) => {
          // A file of root's group moved in (mv keeps the group): the
          // temporary file gets the directory's group, which must not stay.
          let shared;
          try {
            shared = groupsFromDirectory(dir);
          } catch (error) {
            if (error instanceof Skip) return skipTest(t, error.message);
            throw error;
          }
          try {
            const file = path.join(shared.dir, "private");
            fs.writeFileSync(file, "old");
            fs.chownSync(file, 0, 0);
            fs.chmodSync(file, 0o640);
            await api.write(file, "new");
            await api.write(file, "newer"); // the fast path
            const stat = fs.statSync(file);
            assert.equal(stat.gid, 0);
            assert.equal(stat.mode & 0o7777, 0o640);
            assert.equal(read(file), "newer");
          } finally {
            shared.close();
          }
        });
      },
    );
  }

  test(
    `${name} gives the temporary file no group or other bits before it has the old file's owner and group`,
    {
      skip: typeof process.getuid !== "function" || process.getuid() !== 0
        ? "only root may give a file to another user"
        : false,
    },
    async () => {
      await withTempDir(async (dir) => {
        // Made with root's group: bits for the group before the chown would
        // let root's group (not the file's) open it and read the new content.
        const file = path.join(dir, "theirs");
        fs.writeFileSync(file, "old");
        fs.chownSync(file, 65534, 65534);
        fs.chmodSync(file, 0o640);
        const adapter = faultAdapter([]);
        const modes = createModes(adapter);
        await using(adapter, () => api.write(file, "new secret"));
        const calls = adapter.calls.map((call) => call.split(":")[0]);
        assert.deepEqual(modes.map((mode) => mode & 0o077), [0]);
        assert.ok(
          calls.indexOf("chown") < calls.indexOf("chmod"),
          calls.join(),
        );
        assert.equal(modeOf(file), 0o640);
        assert.equal(fs.statSync(file).gid, 65534);
      });
    },
  );
}

/** A group a new file in a shared directory gets: not root's. */
const OTHER_GROUP = 100;

/** A set-group-ID directory of {@linkcode OTHER_GROUP} in `dir`. */
function setGroupIdDirectory(dir: string): { dir: string; close(): void } {
  const shared = ownedDirectory(dir, "shared", [0, OTHER_GROUP], 0o2777);
  return { dir: shared, close: () => {} };
}

/**
 * A directory of {@linkcode OTHER_GROUP}, without the set-group-ID bit, on
 * an ext4 file system mounted with `grpid` (new files get the directory's
 * group, as BSD does), in `dir`.
 */
function grpidDirectory(dir: string): { dir: string; close(): void } {
  const mounted = grpidExt4(dir, "mnt");
  return { dir: sharedIn(mounted.dir), close: () => mounted.close() };
}

/** An ext4 image in `dir` mounted with `grpid` at `dir/name`. */
function grpidExt4(dir: string, name: string): Mount {
  return mountImage(
    "ext4",
    path.join(dir, "image"),
    path.join(dir, name),
    undefined,
    ["-o", "grpid"],
  );
}

/** `dir/shared`, made: a directory of {@linkcode OTHER_GROUP} anyone may write to, without the set-group-ID bit. */
function sharedIn(dir: string): string {
  return ownedDirectory(dir, "shared", [0, OTHER_GROUP], 0o777);
}

/**
 * As {@linkcode grpidDirectory}, under an overlay whose upper layer is that
 * ext4: the overlay's own options do not say `grpid`, the upper layer's
 * file system applies it.
 */
function grpidOverlay(dir: string): { dir: string; close(): void } {
  const upper = grpidExt4(dir, "upper");
  const lower = path.join(dir, "lower");
  fs.mkdirSync(lower);
  sharedIn(lower);
  for (const name of ["u", "w"]) fs.mkdirSync(path.join(upper.dir, name));
  let merged;
  try {
    merged = mount("overlay", path.join(dir, "merged"), [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${lower},upperdir=${upper.dir}/u,workdir=${upper.dir}/w`,
    ]);
  } catch (error) {
    upper.close();
    throw error;
  }
  return {
    dir: path.join(merged.dir, "shared"),
    close: () => {
      merged.close();
      upper.close();
    },
  };
}

/**
 * As {@linkcode grpidDirectory}, but mounted without `grpid` for a first
 * write there, then remounted with it: what was learnt of the mount before
 * no longer holds.
 */
function grpidRemounted(dir: string): { dir: string; close(): void } {
  const mounted = mountImage(
    "ext4",
    path.join(dir, "image"),
    path.join(dir, "mnt"),
  );
  const shared = sharedIn(mounted.dir);
  const first = path.join(shared, "first");
  fs.writeFileSync(first, "old");
  fs.chownSync(first, 0, 0);
  writeFileAtomicSync(first, "new");
  fs.rmSync(first);
  sh("mount", "-o", "remount,grpid", mounted.dir);
  return { dir: shared, close: () => mounted.close() };
}

/** The modes the temporary files are created with, by `adapter`, as they are. */
function createModes(adapter: FaultAdapter): number[] {
  const modes: number[] = [];
  const spy = (open: (...a: never[]) => unknown) => (...args: never[]) => {
    modes.push(args[1] as number);
    return open(...args);
  };
  adapter.sync.createExclusive = spy(
    adapter.sync.createExclusive,
  ) as typeof adapter.sync.createExclusive;
  adapter.async.createExclusive = spy(
    adapter.async.createExclusive,
  ) as typeof adapter.async.createExclusive;
  return modes;
}

/**
 * A fault adapter whose asynchronous `ops` log when each call starts and
 * when it settles, to show which ones run at once.
 */
function timeline(ops: OpName[]): { adapter: FaultAdapter; events: string[] } {
  const adapter = faultAdapter([]);
  const events: string[] = [];
  const table = adapter.async as unknown as Record<
    string,
    (...args: unknown[]) => Promise<unknown>
  >;
  for (const op of ops) {
    const real = table[op];
    table[op] = async (...args) => {
      events.push(op);
      try {
        return await real(...args);
      } finally {
        events.push(`${op} done`);
      }
    };
  }
  return { adapter, events };
}

test("writeFileAtomic() looks up a file it replaced before while creating the temporary file", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    fs.writeFileSync(file, "old");
    const { adapter, events } = timeline(["lstat", "createExclusive"]);
    await using(adapter, async () => {
      await writeFileAtomic(file, "first");
      events.length = 0;
      await writeFileAtomic(file, "second");
    });
    assert.deepEqual(events.slice(0, 2), ["lstat", "createExclusive"]);
  });
});

test("writeFileAtomic() sets a kept file's bits while writing the first bytes", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    fs.writeFileSync(file, "old");
    const { adapter, events } = timeline(["chmod", "write"]);
    await using(adapter, () => writeFileAtomic(file, "new"));
    assert.deepEqual(events.slice(0, 2), ["chmod", "write"]);
    assert.equal(read(file), "new");
  });
});

// The data is not copied (as with fs.writeFile): a buffer transferred after
// the call, before it is written, would read as empty.
test("writeFileAtomic() rejects with a TypeError, and keeps the old file, when the data's ArrayBuffer is transferred after the call", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f.txt");
    await keepsOld(dir, file, async () => {
      const bytes = new TextEncoder().encode("new");
      const written = writeFileAtomic(file, bytes);
      structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
      await assert.rejects(written, TypeError);
    });
  });
});

test("openAtomic()'s write() of a chunk it does not copy (64 KiB or more) rejects with a TypeError, and the old file stays, when the chunk's ArrayBuffer is transferred after the call", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f.txt");
    await keepsOld(dir, file, async () => {
      await assert.rejects(
        openAtomic(file, (handle) => {
          const chunk = new Uint8Array(64 * 1024).fill(65);
          const written = handle.write(chunk);
          chunk.buffer.transfer();
          return written;
        }),
        TypeError,
      );
    });
  });
});

// A length-tracking view of a buffer whose length changes after the call.
for (
  const [buffer, changed, change] of [
    [
      "a resizable ArrayBuffer",
      "shrunk",
      () => {
        const buffer = new ArrayBuffer(3, { maxByteLength: 16 });
        return { buffer, change: () => buffer.resize(1) };
      },
    ],
    [
      "a growable SharedArrayBuffer",
      "grown",
      () => {
        const buffer = new SharedArrayBuffer(3, { maxByteLength: 16 });
        return { buffer, change: () => buffer.grow(8) };
      },
    ],
  ] as const
) {
  test(`writeFileAtomic() writes all the bytes given, and only those, of ${buffer} ${changed} after the call`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f.txt");
      const made = change();
      const bytes = new Uint8Array(made.buffer); // tracks the buffer's length
      bytes.set(new TextEncoder().encode("new"));
      const written = writeFileAtomic(file, bytes);
      made.change();
      await written;
      assert.equal(read(file), "new");
    });
  });
}

test("writeFileAtomic() writes an ArrayBuffer of another realm (node:vm) as its bytes", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f.txt");
    const buffer = runInNewContext("new Uint8Array([110, 101, 119]).buffer");
    await writeFileAtomic(file, buffer);
    assert.equal(read(file), "new");
  });
});

test("writeFileAtomicSync() writes a string that an encoder of another realm (a node:vm context given the host's) encodes", async () => {
  await withTempDir((dir) => {
    const file = path.join(dir, "f.txt");
    const Foreign = runInNewContext("Uint8Array") as Uint8ArrayConstructor;
    const encode = TextEncoder.prototype.encode;
    TextEncoder.prototype.encode = function (text?: string) {
      return new Foreign(encode.call(this, text));
    };
    try {
      writeFileAtomicSync(file, "new");
    } finally {
      TextEncoder.prototype.encode = encode;
    }
    assert.equal(read(file), "new");
  });
});

// A set-user-ID-root program run by another user: its real ids are that
// user's, its effective ids (which the kernel checks) root's. The files are
// that user's own: taken for their writer, they would become root's.
for (
  const [name, childApi] of [
    ["writeFileAtomic()", "async"],
    ["writeFileAtomicSync()", "sync"],
    ["openAtomic()", "handle"],
  ] as const
) {
  test(
    `${name} in a process whose effective ids are root's and real ids another user's keeps the owner of the files it replaces, as root does, when they are its real user's`,
    {
      skip: canDropPrivileges() ?? false,
    },
    async () => {
      await withTempDir((dir) => {
        for (
          const [base, bits] of [["data", 0o640], ["program", 0o4755]] as const
        ) {
          const file = path.join(dir, base);
          fs.writeFileSync(file, "old");
          fs.chownSync(file, 1000, 1000);
          fs.chmodSync(file, bits);
          const child = spawnSync("setpriv", [
            "--ruid=1000",
            "--rgid=1000",
            "--euid=0",
            "--egid=0",
            "--clear-groups",
            ...scriptCommand(path.join(root, "tests", "_child.ts"), [
              "write",
              file,
              childApi,
            ]),
          ], { encoding: "utf8" });
          assert.equal(child.stdout.trim(), "ok", child.stderr);
          assert.equal(
            ownership(file),
            `1000:1000 ${bits.toString(8)}`,
            base,
          );
          assert.equal(read(file), "written by child");
        }
      });
    },
  );
}

for (const api of apis) {
  test(
    `${api.name} as root keeps its program's group in a directory of another user who takes its set-group-ID bit away as the program is rewritten`,
    {
      skip: process.getuid?.() !== 0
        ? "needs root: a directory and a file of other users"
        : false,
    },
    async () => {
      await withTempDir(async (dir) => {
        const shared = ownedDirectory(dir, "shared", [1000, 1000], 0o777);
        const program = path.join(shared, "program");
        fs.writeFileSync(program, "old");
        fs.chownSync(program, 0, 1000);
        fs.chmodSync(program, 0o2755);
        // The directory's stat still shows the bit its owner has just taken
        // away: the temporary file gets root's group, not the directory's.
        const adapter = faultAdapter([]);
        const [stat, statAsync] = [adapter.sync.stat, adapter.async.stat];
        // (It is looked at through the directory held open, by another name.)
        const { dev, ino } = fs.statSync(shared);
        const withBit = (entry: EntryInfo | null) =>
          entry?.id === `${dev}:${ino}`
            ? { ...entry, mode: entry.mode | 0o2000 }
            : entry;
        adapter.sync.stat = (p) => withBit(stat(p));
        adapter.async.stat = async (p) => withBit(await statAsync(p));
        await using(adapter, () => api.write(program, "new"));
        assert.equal(ownership(program), "0:1000 2755");
        assert.equal(read(program), "new");
      });
    },
  );
}
