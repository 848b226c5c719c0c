/**
 * Shared sticky directories (`/tmp`): the library does in user space what
 * the kernel guards with `fs.protected_symlinks` and `fs.protected_regular`,
 * so it never follows a link or keeps the owner of a file that another user
 * planted there. Run as root, against entries owned by `nobody`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { StickyProtections } from "../src/runtime/types.ts";
import { apis } from "./_apis.ts";
import {
  updateFileAtomic,
  updateFileAtomicSync,
  writeFileAtomic,
} from "../mod.ts";
import {
  NOBODY,
  notRoot,
  plantedSecretLink,
  plantLink,
  refused,
  refusesPlantedLink,
  secretFile,
  stickyDir,
  withProtections,
} from "./_sticky_fixtures.ts";
import {
  beforeFirstRead,
  failsWith,
  faultAdapter,
  read,
  root,
  scriptCommand,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { spawnSync } from "node:child_process";

/** `nobody`'s world-writable file at `shared/name`. */
function plantFile(shared: string, name: string): string {
  const file = path.join(shared, name);
  fs.writeFileSync(file, "planted");
  fs.chownSync(file, NOBODY, NOBODY);
  fs.chmodSync(file, 0o666);
  return file;
}

/** An adapter whose first read of `shared/name` finds `nobody`'s file planted there just before. */
function plantingOnRead(shared: string, name: string) {
  return beforeFirstRead(name, () => plantFile(shared, name));
}

/** An adapter that reports the sysctls as `protections`, whatever they are. */
function reporting(protections: StickyProtections) {
  return faultAdapter([], { protections: () => protections });
}

/** In `dir`, a sticky directory only its group may write to (0o1770), and a file another user made there. */
function plantedInGroupSticky(dir: string): { shared: string; file: string } {
  const shared = stickyDir(dir);
  fs.chmodSync(shared, 0o1770);
  return { shared, file: plantFile(shared, "report.txt") };
}

for (const api of apis) {
  const { name, fails } = api;

  test(
    `${name} ${fails} with EACCES on a link another user planted in a sticky directory`,
    {
      skip: notRoot,
    },
    async () => {
      await withTempDir(async (dir) => {
        const { link, secret } = plantedSecretLink(dir);
        await refusesPlantedLink(() => api.write(link, "root's data"));
        assert.equal(read(secret), "secret");
        assert.equal(fs.statSync(secret).mode & 0o777, 0o600);
        assert.ok(fs.lstatSync(link).isSymbolicLink());
        assert.deepEqual(tempsIn(path.dirname(link)), []);
      });
    },
  );

  test(
    `${name} ${fails} with ENOTDIR, as open(2) does, for a name/ below another user's link to a file in a sticky directory: the kernel checks only a link that is the last name`,
    { skip: notRoot },
    async () => {
      await withTempDir(async (dir) => {
        const shared = stickyDir(dir);
        fs.writeFileSync(path.join(shared, "a"), "a file");
        const link = plantLink(shared, "b", "a");
        await withProtections(() =>
          failsWith(api.write(path.join(link, "x") + path.sep, "x"), "ENOTDIR")
        );
        assert.equal(read(link), "a file");
        assert.deepEqual(fs.readdirSync(shared).sort(), ["a", "b"]);
      });
    },
  );

  test(
    `${name} ${fails} with EACCES on a file another user made in a sticky directory`,
    {
      skip: notRoot,
    },
    async () => {
      await withTempDir(async (dir) => {
        const file = plantFile(stickyDir(dir), "report.txt");
        await withProtections(() =>
          refused(api.write(file, "root's data"), "fs.protected_regular")
        );
        assert.equal(read(file), "planted");
        assert.deepEqual(tempsIn(path.dirname(file)), []);
      });
    },
  );

  test(
    `${name} with overwrite: false ${fails} with EEXIST, as O_EXCL does, not EACCES, on a file or link another user made in a sticky directory`,
    { skip: notRoot },
    async () => {
      await withTempDir(async (dir) => {
        const { link, secret } = plantedSecretLink(dir);
        const file = plantFile(path.dirname(link), "planted.txt");
        await withProtections(async () => {
          for (const name of [file, link]) {
            await failsWith(
              api.write(name, "root's data", { overwrite: false }),
              "EEXIST",
            );
          }
        });
        assert.equal(read(file), "planted");
        assert.equal(read(secret), "secret");
        assert.deepEqual(tempsIn(path.dirname(file)), []);
        assert.deepEqual(tempsIn(path.dirname(link)), []);
      });
    },
  );

  test(
    `${name} with overwrite: false ${fails} with EEXIST at once, making no temporary file, on a file another user made in a sticky directory`,
    { skip: notRoot },
    async () => {
      await withTempDir(async (dir) => {
        const file = plantFile(stickyDir(dir), "planted.txt");
        const adapter = faultAdapter([]);
        await withProtections(() =>
          using(adapter, () =>
            failsWith(
              api.write(file, "root's data", { overwrite: false }),
              "EEXIST",
            ))
        );
        assert.equal(
          adapter.calls.some((c) => c.startsWith("createExclusive")),
          false,
        );
        assert.equal(read(file), "planted");
      });
    },
  );

  test(
    `${name} ${fails} with EACCES on a link planted where it replaced a file before`,
    { skip: notRoot },
    async () => {
      await withTempDir(async (dir) => {
        const shared = stickyDir(dir);
        const report = path.join(shared, "report.txt");
        await api.write(report, "root's first report");
        await api.write(report, "root's second report");
        fs.rmSync(report); // root clears its file; nobody moves in
        const secret = secretFile(dir);
        plantLink(shared, "report.txt", secret);
        await refusesPlantedLink(() => api.write(report, "root's data"));
        assert.equal(read(secret), "secret");
        assert.deepEqual(tempsIn(shared), []);
      });
    },
  );

  test(
    `${name} treats unreadable sysctls as on`,
    { skip: notRoot },
    async () => {
      await withTempDir(async (dir) => {
        const shared = stickyDir(dir);
        const secret = secretFile(dir);
        const link = plantLink(shared, "link", secret);
        const file = plantFile(shared, "file");
        await using(reporting({ symlinks: null, regular: null }), async () => {
          await refused(api.write(link, "x"), "fs.protected_symlinks");
          await refused(api.write(file, "x"), "fs.protected_regular");
        });
        assert.equal(read(secret), "secret");
        assert.equal(read(file), "planted");
      });
    },
  );

  test(
    `${name} says, refusing a file in a sticky directory, when it cannot tell its own uid or the sysctl`,
    { skip: notRoot },
    async () => {
      await withTempDir(async (dir) => {
        const file = plantFile(stickyDir(dir), "file");
        const adapter = faultAdapter([], {
          ids: () => null,
          protections: () => ({ symlinks: null, regular: null }),
        });
        await using(adapter, async () => {
          const error = await failsWith(api.write(file, "x"), "EACCES");
          // It may be the writer's own file: the message does not say
          // "another user", nor that the kernel refuses it.
          assert.match(
            error.message,
            /uid 65534, not the directory's owner; this process's own uid is unknown .*--allow-sys=uid,gid/,
          );
          assert.match(
            error.message,
            /fs.protected_regular is on \(it cannot be read here/,
          );
          assert.doesNotMatch(error.message, /another user|kernel refuses/);
        });
        assert.equal(read(file), "planted");
      });
    },
  );

  for (const [regular, said] of [[2, "is 2"], [null, "cannot be read"]]) {
    test(
      `${name} ${fails} with EACCES on a file another user made in a sticky directory only its group may write to, when fs.protected_regular ${said}`,
      { skip: notRoot },
      async () => {
        await withTempDir(async (dir) => {
          const { shared, file } = plantedInGroupSticky(dir);
          await using(
            reporting({ symlinks: 1, regular: regular as 2 | null }),
            async () => {
              await refused(
                api.write(file, "root's data"),
                "fs.protected_regular",
                "group-writable",
              );
            },
          );
          assert.equal(read(file), "planted");
          assert.deepEqual(tempsIn(shared), []);
        });
      },
    );
  }

  test(
    `${name} replaces a file another user made in a sticky directory only its group may write to, when fs.protected_regular is 1`,
    { skip: notRoot },
    async () => {
      await withTempDir(async (dir) => {
        const { shared, file } = plantedInGroupSticky(dir);
        await using(reporting({ symlinks: 1, regular: 1 }), async () => {
          await api.write(file, "root's data");
        });
        assert.equal(read(file), "root's data");
        assert.deepEqual(tempsIn(shared), []);
      });
    },
  );

  test(
    `${name} follows and replaces as the kernel does when the sysctls are 0`,
    {
      skip: notRoot,
    },
    async () => {
      await withTempDir(async (dir) => {
        const shared = stickyDir(dir);
        const target = path.join(dir, "target");
        fs.writeFileSync(target, "old");
        const link = plantLink(shared, "link", target);
        const file = plantFile(shared, "file");
        await using(reporting({ symlinks: 0, regular: 0 }), async () => {
          await api.write(link, "via link");
          await api.write(file, "replaced");
        });
        assert.equal(read(target), "via link");
        assert.equal(read(file), "replaced");
        assert.equal(fs.statSync(file).uid, NOBODY);
      });
    },
  );

  test(
    `${name} follows its own link and the directory owner's in a sticky directory`,
    {
      skip: notRoot,
    },
    async () => {
      await withTempDir(async (dir) => {
        const shared = stickyDir(dir);
        fs.chownSync(shared, NOBODY, NOBODY); // nobody's sticky directory
        const target = path.join(dir, "target");
        fs.writeFileSync(target, "old");
        const own = path.join(shared, "own");
        fs.symlinkSync(target, own); // root's: the writer's
        const owners = plantLink(shared, "owners", target); // the directory owner's
        const file = plantFile(shared, "file"); // the directory owner's
        await withProtections(async () => {
          await api.write(own, "one");
          assert.equal(read(target), "one");
          await api.write(owners, "two");
          await api.write(file, "three");
        });
        assert.equal(read(target), "two");
        assert.equal(read(file), "three");
      });
    },
  );
}

for (
  const [name, update] of [
    ["updateFileAtomic()", updateFileAtomic],
    [
      "updateFileAtomicSync()",
      (...args: Parameters<typeof updateFileAtomicSync>) =>
        Promise.resolve().then(() => updateFileAtomicSync(...args)),
    ],
  ] as const
) {
  test(
    `${name} with overwrite: false fails with EEXIST on a file another user made in a sticky directory, without reading it into fn`,
    { skip: notRoot },
    async () => {
      await withTempDir(async (dir) => {
        const shared = stickyDir(dir);
        const file = plantFile(shared, "planted.txt");
        const seen: unknown[] = [];
        await withProtections(() =>
          failsWith(
            update(file, (current) => void seen.push(current), {
              overwrite: false,
            }),
            "EEXIST",
          )
        );
        assert.deepEqual(seen, []);
        assert.equal(read(file), "planted");
        assert.deepEqual(fs.readdirSync(shared), ["planted.txt"]);
      });
    },
  );

  test(
    `${name} fails with EACCES, without reading it into fn, on a file another user made in a sticky directory after the lock looked at the name`,
    { skip: notRoot },
    async () => {
      await withTempDir(async (dir) => {
        const shared = stickyDir(dir);
        const report = path.join(shared, "report.txt");
        // Nobody's file appears between the lock's look and its read.
        const adapter = plantingOnRead(shared, "report.txt");
        const seen: unknown[] = [];
        await withProtections(() =>
          using(adapter, () =>
            refused(
              update(report, (current) => {
                seen.push(current);
                return "root's data";
              }),
              "fs.protected_regular",
            ))
        );
        assert.deepEqual(seen, []);
        assert.equal(read(report), "planted");
        assert.equal(fs.statSync(report).uid, NOBODY);
        assert.deepEqual(fs.readdirSync(shared), ["report.txt"]);
      });
    },
  );
}

test(
  "writeFileAtomic() fails with EACCES, keeping neither its owner nor its bits, on a file another user made in a sticky directory while it waited for an earlier write that failed",
  { skip: notRoot },
  async () => {
    await withTempDir(async (dir) => {
      const shared = stickyDir(dir);
      const report = path.join(shared, "report.txt");
      let fail!: () => void;
      const failed = new Promise<void>((resolve) => fail = resolve);
      const earlier = writeFileAtomic(
        report,
        (async function* () {
          yield "partial";
          await failed;
          throw new Error("the source failed");
        })(),
      );
      const later = writeFileAtomic(report, "root's secret");
      // The later write has its file written, and waits for its turn.
      while (
        !tempsIn(shared).some((t) =>
          read(path.join(shared, t)) === "root's secret"
        )
      ) {
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      plantFile(shared, "report.txt");
      await withProtections(async () => {
        fail();
        await assert.rejects(earlier, /the source failed/);
        await refused(later, "fs.protected_regular");
      });
      assert.equal(read(report), "planted");
      assert.equal(fs.statSync(report).uid, NOBODY);
      assert.deepEqual(fs.readdirSync(shared), ["report.txt"]);
    });
  },
);

test(
  "writeFileAtomic() after process.setuid() trusts the files it makes in a sticky directory as its own",
  { skip: notRoot },
  async () => {
    await withTempDir(async (dir) => {
      fs.chmodSync(dir, 0o755);
      const shared = stickyDir(dir);
      const [exe, ...args] = scriptCommand(
        path.join(root, "tests", "_setuid_child.ts"),
        [shared],
      );
      const run = await withProtections(() =>
        Promise.resolve(spawnSync(exe, args, { encoding: "utf8" }))
      );
      assert.equal(run.stdout.trim(), "ok", run.stderr);
      assert.equal(read(path.join(shared, "own")), "v2");
      assert.equal(fs.statSync(path.join(shared, "own")).uid, NOBODY);
    });
  },
);
