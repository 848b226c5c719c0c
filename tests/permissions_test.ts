/**
 * Permissions as a normal user: the writer runs as `nobody` (root ignores
 * permissions, so these tests would pass by accident as root).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import {
  canDropPrivileges,
  faultAdapter,
  read,
  root,
  scriptCommand,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import { apis } from "./_apis.ts";
import { type Stage, stageForNobody } from "./_stage.ts";
import { openAtomic } from "../mod.ts";

const NOBODY = 65534;
const DENO = path.join(root, "node_modules", ".bin", "deno");
const skip = canDropPrivileges() ?? false;

/**
 * Runs tests/_child.ts as nobody, from a world-readable copy (the checkout
 * may be private), on this runtime, or on Deno with `denoFlags`; returns
 * what it printed. `mode` is the child's (`write`, or `operation` to print
 * a failure's operation too).
 */
function writeAsNobody(
  target: string,
  home: string,
  stage: Stage,
  args: string[] = [],
  denoFlags?: string[],
  mode = "write",
): string {
  const child = stage.path(path.join(root, "tests", "_child.ts"));
  const childArgs = [mode, target, ...args];
  const [exe, ...rest] = denoFlags
    ? [DENO, "run", ...denoFlags, child, ...childArgs]
    : scriptCommand(child, childArgs);
  const command = [stage.path(exe), ...rest];
  return execFileSync(
    "setpriv",
    ["--reuid=nobody", "--regid=nogroup", "--clear-groups", ...command],
    {
      encoding: "utf8",
      env: { ...process.env, HOME: home, DENO_DIR: path.join(home, "deno") },
    },
  ).trim();
}

/**
 * A directory for the test's files, and a writer that runs as nobody: on
 * this runtime, or on Deno with the flags `denoFlags` gives for the test's
 * directory.
 */
async function withDirs(
  fn: (
    write: (target: string, ...args: string[]) => string,
    dir: string,
    failedAt: (target: string) => string,
    child: (mode: string, target: string, ...args: string[]) => string,
  ) => void | Promise<void>,
  denoFlags?: (base: string, dir: string) => string[],
): Promise<void> {
  await withTempDir(async (base) => {
    fs.chmodSync(base, 0o755);
    const home = path.join(base, "home");
    const dir = path.join(base, "files");
    fs.mkdirSync(home);
    fs.mkdirSync(dir);
    fs.chownSync(home, NOBODY, NOBODY);
    const stage = stageForNobody(
      path.join(base, "stage"),
      [denoFlags ? DENO : process.execPath],
    );
    const flags = denoFlags?.(base, dir);
    await fn(
      (target, ...args) => writeAsNobody(target, home, stage, args, flags),
      dir,
      (target) => writeAsNobody(target, home, stage, [], flags, "operation"),
      (mode, target, ...args) =>
        writeAsNobody(target, home, stage, args, flags, mode),
    );
  });
}

test(
  "writeFileAtomic() as a normal user writes into a directory it may write but not read, without failing at its directory fsync",
  {
    skip,
  },
  async () => {
    await withDirs((asNobody, dir) => {
      fs.chmodSync(dir, 0o733); // a drop box: nobody cannot open it to fsync it
      const target = path.join(dir, "dropped");
      fs.writeFileSync(target, "old");
      fs.chownSync(target, NOBODY, NOBODY);
      assert.equal(asNobody(target), "ok");
      assert.equal(read(target), "written by child");
      assert.deepEqual(tempsIn(dir), []);
    });
  },
);

// Past the writes that may wait for their turn with their files open, a
// write closes its file and opens it again to match what the earlier
// writes left: its owner, if not root, may open it only as its bits allow.
for (
  const [what, bits, ends] of [
    ["a read-only (0444)", 0o444, "v8, 600"],
    ["a write-only (0200)", 0o200, "v8, 600"],
    ["an inaccessible (0000)", 0o000, "v8, 600"],
  ] as const
) {
  test(
    `writeFileAtomic() as a normal user replaces ${what} file of its own in a burst of writes whose first changes its bits`,
    {
      skip,
    },
    async () => {
      await withDirs((_write, dir, _failedAt, child) => {
        fs.chmodSync(dir, 0o777);
        const target = path.join(dir, "own");
        fs.writeFileSync(target, "old");
        fs.chownSync(target, NOBODY, NOBODY);
        fs.chmodSync(target, bits);
        assert.equal(
          child("burst", target, "600"),
          `${Array(10).fill("ok").join(" ")}, ${ends}`,
        );
        assert.deepEqual(tempsIn(dir), []);
      });
    },
  );
}

test(
  "writeFileAtomic() as a normal user rejects with EACCES in a read-only directory and leaves nothing",
  {
    skip,
  },
  async () => {
    await withDirs((asNobody, dir) => {
      const target = path.join(dir, "f.txt");
      fs.writeFileSync(target, "old");
      fs.chmodSync(dir, 0o555);
      assert.equal(asNobody(target), "EACCES");
      assert.equal(read(target), "old");
      assert.deepEqual(tempsIn(dir), []);
    });
  },
);

test(
  "writeFileAtomic() as a normal user fails with EPERM from rename for the sticky directory owner's file, which the kernel lets no one else rename over, however writable, and leaves it",
  {
    skip,
  },
  async () => {
    await withDirs((_, dir, failedAt) => {
      fs.chmodSync(dir, 0o1777); // root's, like /tmp
      const target = path.join(dir, "roots.txt");
      fs.writeFileSync(target, "old");
      fs.chmodSync(target, 0o666);
      assert.equal(failedAt(target), "EPERM rename");
      assert.equal(read(target), "old");
      assert.equal(fs.statSync(target).uid, 0);
      assert.deepEqual(tempsIn(dir), []);
    });
  },
);

test(
  "writeFileAtomic() as a normal user fails with EACCES, as open(2) does, for a name/ in a directory it may not search",
  {
    skip,
  },
  async () => {
    await withDirs((asNobody, dir) => {
      fs.chmodSync(dir, 0o777);
      const closed = path.join(dir, "closed");
      fs.mkdirSync(path.join(closed, "sub"), { recursive: true });
      fs.chmodSync(closed, 0o700);
      for (const name of ["sub", "missing"]) {
        assert.equal(asNobody(path.join(closed, name) + path.sep), "EACCES");
      }
      assert.deepEqual(fs.readdirSync(closed), ["sub"]);
    });
  },
);

test(
  "writeFileAtomic() as a normal user replaces a file it may not give away, narrowing group access",
  {
    skip,
  },
  async () => {
    await withDirs((asNobody, dir) => {
      fs.chmodSync(dir, 0o777);
      const target = path.join(dir, "owned-by-root");
      fs.writeFileSync(target, "old");
      fs.chmodSync(target, 0o640);
      assert.equal(asNobody(target), "ok");
      const stat = fs.statSync(target);
      assert.equal(read(target), "written by child");
      // The writer cannot chown to root: the file becomes nobody's, and since
      // its group cannot stay root's either, the group gets no more than others.
      assert.equal(stat.uid, NOBODY);
      assert.equal(stat.mode & 0o777, 0o600);
      assert.deepEqual(tempsIn(dir), []);
    });
  },
);

test(
  "writeFileAtomic() as a normal user keeps group bits that everyone has anyway",
  {
    skip,
  },
  async () => {
    await withDirs((asNobody, dir) => {
      fs.chmodSync(dir, 0o777);
      const target = path.join(dir, "public");
      fs.writeFileSync(target, "old");
      fs.chmodSync(target, 0o644);
      assert.equal(asNobody(target), "ok");
      assert.equal(fs.statSync(target).mode & 0o777, 0o644);
    });
  },
);

if (skip) {
  console.log(`permission tests skipped: ${skip} (${os.userInfo().username})`);
}

test(
  "writeFileAtomic() as a normal user keeps the mode of a file of its own group",
  {
    skip,
  },
  async () => {
    await withDirs((asNobody, dir) => {
      fs.chmodSync(dir, 0o777);
      const target = path.join(dir, "shared-group");
      fs.writeFileSync(target, "old");
      fs.chownSync(target, 0, NOBODY); // root's file, in the writer's group
      fs.chmodSync(target, 0o660);
      assert.equal(asNobody(target), "ok");
      const stat = fs.statSync(target);
      assert.equal(stat.gid, NOBODY);
      assert.equal(stat.mode & 0o777, 0o660);
    });
  },
);

/**
 * `dir/name` holding "old", owned by `owner` (uid and gid) with `mode`, in
 * `dir` given to nobody: the file a test's writer rewrites.
 */
function fileInNobodysDir(
  dir: string,
  name: string,
  owner: readonly [number, number],
  mode: number,
): string {
  fs.chownSync(dir, NOBODY, NOBODY);
  const target = path.join(dir, name);
  fs.writeFileSync(target, "old");
  fs.chownSync(target, owner[0], owner[1]);
  fs.chmodSync(target, mode);
  return target;
}

/** Deno with the directory alone: the runtime will not say who runs it. */
const denoWithoutSys = (base: string, dir: string): string[] => [
  `--allow-read=${base}`,
  `--allow-write=${dir}`,
];

// Another user's program (1000:1000), or nobody's in a group it is not in;
// by a writer that knows who it is, or by Deno without --allow-sys.
for (
  const [bit, what, owner, mode, denoFlags] of [
    ["set-user-ID", "it cannot give back to its owner", [1000, 1000], 0o4755],
    ["set-group-ID", "whose group it cannot keep", [NOBODY, 1000], 0o2775],
    [
      "set-user-ID",
      "it cannot give back to its owner, on Deno without --allow-sys",
      [1000, 1000],
      0o4755,
      denoWithoutSys,
    ],
    [
      "set-group-ID",
      "whose group it cannot keep, on Deno without --allow-sys",
      [NOBODY, 1000],
      0o2775,
      denoWithoutSys,
    ],
  ] as const
) {
  test(
    `writeFileAtomic() as a normal user drops the ${bit} bit of a file ${what}`,
    {
      skip: skip ||
        (denoFlags && !fs.existsSync(DENO) ? "Deno is not installed" : false),
    },
    async () => {
      await withDirs((asNobody, dir) => {
        const target = fileInNobodysDir(dir, "tool", owner, mode);
        assert.equal(asNobody(target), "ok");
        const stat = fs.statSync(target);
        // Now nobody's: it must not run as another user, or group, for
        // whoever starts it.
        assert.equal(`${stat.uid}:${stat.gid}`, `${NOBODY}:${NOBODY}`);
        assert.equal(stat.mode & 0o7777, 0o755);
      }, denoFlags);
    },
  );
}

for (
  const [flags, outcome] of [
    ["the README's permissions (no /proc)", "refuses with EACCES"],
    ["--allow-all", "rewrites, keeping its bits,"],
  ] as const
) {
  test(
    `writeFileAtomic() as nobody on Deno with ${flags} ${outcome} its own file in a sticky directory`,
    {
      skip: skip ||
        (fs.existsSync(DENO) ? false : "Deno is not installed here"),
    },
    async () => {
      await withDirs((asNobody, dir) => {
        fs.chmodSync(dir, 0o1777);
        const target = path.join(dir, "own.json");
        assert.equal(asNobody(target), "ok");
        fs.chmodSync(target, 0o660);
        // Without O_CREAT, which fs.protected_regular refuses root here
        // while another suite has it on (tests/_sticky_fixtures.ts).
        fs.truncateSync(target);
        fs.writeFileSync(target, "its own", { flag: "r+" });
        // Its own uid and gid are 65534, the id that stands for unmapped
        // owners in a user namespace (a rootless container's nobody sees
        // every host user's files so): only /proc/self/uid_map tells which,
        // and Deno reads it only with --allow-all.
        const refused = flags !== "--allow-all";
        assert.equal(asNobody(target), refused ? "EACCES" : "ok");
        assert.equal(read(target), refused ? "its own" : "written by child");
        assert.equal(fs.statSync(target).mode & 0o777, 0o660);
      }, (base, dir) =>
        flags === "--allow-all" ? ["--allow-all"] : [
          `--allow-read=${base}`,
          `--allow-write=${dir}`,
          "--allow-sys=uid,gid",
        ]);
    },
  );
}

test(
  "writeFileAtomic() as nobody on Deno without --allow-sys keeps neither the group nor the set-ID bits of its own file, which it cannot tell from an unmapped user's",
  {
    skip: skip || (fs.existsSync(DENO) ? false : "Deno is not installed here"),
  },
  async () => {
    await withDirs((asNobody, dir) => {
      const target = fileInNobodysDir(dir, "own", [NOBODY, NOBODY], 0o2770);
      // It cannot tell its uid, nor read /proc: its own 65534 looks like the
      // placeholder of a user namespace's unmapped owners. Narrower, never
      // wider (README, "User namespaces").
      assert.equal(asNobody(target), "ok");
      const stat = fs.statSync(target);
      assert.equal(`${stat.uid}:${stat.gid}`, `${NOBODY}:${NOBODY}`);
      assert.equal(stat.mode & 0o7777, 0o700);
    }, denoWithoutSys);
  },
);

for (const api of ["async", "sync", "handle"]) {
  test(
    `writeFileAtomic() as a normal user keeps a file's set-user-ID and set-group-ID bits, which a write clears (${api})`,
    { skip },
    async () => {
      await withDirs((asNobody, dir) => {
        const target = fileInNobodysDir(dir, "tool", [NOBODY, NOBODY], 0o6755);
        assert.equal(asNobody(target, api), "ok");
        assert.equal(read(target), "written by child");
        assert.equal(fs.statSync(target).mode & 0o7777, 0o6755);
      });
    },
  );

  test(
    `writeFileAtomic() as a normal user applies a mode with set-user-ID and set-group-ID bits exactly (${api})`,
    { skip },
    async () => {
      await withDirs((asNobody, dir) => {
        fs.chownSync(dir, NOBODY, NOBODY);
        const target = path.join(dir, "new-tool");
        assert.equal(asNobody(target, api, "6750"), "ok");
        assert.equal(fs.statSync(target).mode & 0o7777, 0o6750);
      });
    },
  );
}

/** Whether nobody can open `file` for reading and writing (a shell's `<>`). */
function nobodyOpensForWriting(file: string): boolean {
  const shell = spawnSync("setpriv", [
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    "sh",
    "-c",
    'exec 3<>"$1"',
    "sh",
    file,
  ]);
  return shell.status === 0;
}

/**
 * nobody's set-group-ID program of group 1000, which nobody is not in, in
 * `dir`, given the mode `dirMode`: once set, the bit would run nobody's code
 * with that group, were nobody to hold the new file open for writing (a
 * shared mapping's writes keep the bit).
 */
function nobodysProgram(dir: string, dirMode = 0o755): string {
  fs.chmodSync(dir, dirMode);
  const target = path.join(dir, "helper");
  fs.writeFileSync(target, "old");
  fs.chownSync(target, NOBODY, 1000);
  fs.chmodSync(target, 0o2555);
  return target;
}

test(
  "openAtomic() as root gives another user's set-group-ID file its owner only once the content is written: that user cannot open it meanwhile",
  { skip },
  async () => {
    await withTempDir(async (dir) => {
      const target = nobodysProgram(dir);
      let opened: boolean | undefined;
      await openAtomic(target, async (file) => {
        await file.write("root's");
        const [temp] = tempsIn(dir);
        opened = nobodyOpensForWriting(path.join(dir, temp));
      });
      assert.equal(opened, false);
      const stat = fs.statSync(target);
      assert.equal(`${stat.uid}:${stat.gid}`, `${NOBODY}:1000`);
      assert.equal(stat.mode & 0o7777, 0o2555);
      assert.equal(read(target), "root's");
    });
  },
);

for (const api of apis) {
  test(
    `${api.name} as root gives another user's set-group-ID file to them only where they cannot reach it, and leaves nothing beside it`,
    { skip },
    async () => {
      await withTempDir(async (dir) => {
        const target = nobodysProgram(dir);
        // Between the chown and the chmod that sets the bit, the file is
        // nobody's: could nobody open it for writing then, it could write
        // to it through a shared mapping once the bit is set.
        const adapter = faultAdapter([]);
        const opened: boolean[] = [];
        for (const ops of [adapter.sync, adapter.async]) {
          const chown = ops.chown as (...args: unknown[]) => unknown;
          (ops as { chown: unknown }).chown = (...args: unknown[]) => {
            const done = chown(...args);
            const check = () =>
              opened.push(nobodyOpensForWriting(args[1] as string));
            if (done instanceof Promise) return done.then(check);
            check();
            return done;
          };
        }
        await using(adapter, () => api.write(target, "root's"));
        assert.deepEqual(opened, [false]);
        const stat = fs.statSync(target);
        assert.equal(`${stat.uid}:${stat.gid}`, `${NOBODY}:1000`);
        assert.equal(stat.mode & 0o7777, 0o2555);
        assert.equal(read(target), "root's");
        assert.deepEqual(fs.readdirSync(dir), ["helper"]);
      });
    },
  );
}

for (const api of apis) {
  test(
    `${api.name} as root that fails after moving another user's set-group-ID file out of their reach leaves neither it nor the directory it was moved to`,
    { skip },
    async () => {
      await withTempDir(async (dir) => {
        const target = nobodysProgram(dir);
        const adapter = faultAdapter([{ op: "chmod", code: "EIO" }]);
        await using(adapter, async () => {
          const error = await api.write(target, "root's").then(
            () => null,
            (error: unknown) => error,
          );
          assert.equal((error as { code?: string } | null)?.code, "EIO");
        });
        assert.equal(read(target), "old");
        assert.equal(fs.statSync(target).mode & 0o7777, 0o2555);
        assert.deepEqual(fs.readdirSync(dir), ["helper"]);
      });
    },
  );
}

for (const api of apis) {
  test(
    `${api.name} as root names the move of another user's set-group-ID file into its closet as such when it fails (EXDEV: Landlock without REFER)`,
    { skip },
    async () => {
      await withTempDir(async (dir) => {
        const target = nobodysProgram(dir);
        // A Landlock ruleset that does not grant LANDLOCK_ACCESS_FS_REFER
        // refuses a rename into another directory with EXDEV: here the one
        // that keeps the temporary file's name (the final one does not).
        const adapter = faultAdapter([{
          op: "rename",
          code: "EXDEV",
          where: (args) => String(args[1]).endsWith(".atomic-tmp"),
        }]);
        await using(adapter, async () => {
          const error = await api.write(target, "root's").then(
            () => null,
            (error: unknown) => error,
          );
          const { code, operation } = error as {
            code?: string;
            operation?: string;
          };
          assert.equal(`${code} ${operation}`, "EXDEV move into closet");
        });
        assert.equal(read(target), "old");
        assert.equal(fs.statSync(target).mode & 0o7777, 0o2555);
        assert.deepEqual(fs.readdirSync(dir), ["helper"]);
      });
    },
  );
}

/** A fault adapter that runs `after` once an operation `op` made on a closet (`_closet.ts`) has run. */
function onCloset(
  op: "makeDirectory" | "openDirectory",
  after: (closet: string) => void,
) {
  const adapter = faultAdapter([]);
  for (const ops of [adapter.sync, adapter.async]) {
    const table = ops as unknown as Record<
      string,
      (...a: unknown[]) => unknown
    >;
    const real = table[op];
    table[op] = (...args: unknown[]) => {
      const done = real(...args);
      const closet = args[0] as string;
      if (!path.basename(closet).endsWith(".atomic-closet")) return done;
      if (done instanceof Promise) {
        return done.then((value) => (after(closet), value));
      }
      after(closet);
      return done;
    };
  }
  return adapter;
}

for (const api of apis) {
  test(
    `${api.name} as root gives another user's set-group-ID file to them in its own closet, even when they put a directory of theirs at the closet's name`,
    { skip },
    async () => {
      await withTempDir(async (dir) => {
        const target = nobodysProgram(dir, 0o777);
        const moved = path.join(dir, "moved");
        // nobody may write the directory: it swaps its own directory in
        // under the closet's name once the closet is open.
        const adapter = onCloset("openDirectory", (closet) => {
          fs.renameSync(closet, moved);
          fs.mkdirSync(closet, 0o777);
          fs.chownSync(closet, NOBODY, NOBODY);
        });
        await using(adapter, () => api.write(target, "root's"));
        const stat = fs.statSync(target);
        assert.equal(`${stat.uid}:${stat.gid}`, `${NOBODY}:1000`);
        assert.equal(stat.mode & 0o7777, 0o2555);
        assert.equal(read(target), "root's");
        // The file never went into nobody's directory, which is left alone.
        const swapped = fs.readdirSync(dir).find((n) =>
          n.endsWith(".atomic-closet")
        );
        assert.deepEqual(fs.readdirSync(path.join(dir, swapped!)), []);
        assert.deepEqual(fs.readdirSync(moved), []);
      });
    },
  );

  test(
    `${api.name} as root fails with EPERM, before giving it away, a set-group-ID file of another user that has another name (a hard link)`,
    { skip },
    async () => {
      await withTempDir(async (dir) => {
        const target = nobodysProgram(dir, 0o777);
        const elsewhere = path.join(dir, "link");
        // A hard link made to the temporary file before it goes into its
        // closet (which fs.protected_hardlinks=0 lets anyone make).
        const adapter = onCloset("makeDirectory", () => {
          const [temp] = fs.readdirSync(dir).filter((n) =>
            n.endsWith(".atomic-tmp") && fs.statSync(path.join(dir, n)).isFile()
          );
          fs.linkSync(path.join(dir, temp), elsewhere);
        });
        await using(adapter, async () => {
          const error = await api.write(target, "root's").then(
            () => null,
            (error: unknown) => error,
          );
          assert.equal((error as { code?: string } | null)?.code, "EPERM");
        });
        assert.equal(read(target), "old");
        // Never given away: still root's, owner-only.
        const linked = fs.statSync(elsewhere);
        assert.equal(`${linked.uid}:${linked.mode & 0o7777}`, `0:${0o600}`);
        assert.deepEqual(fs.readdirSync(dir).sort(), ["helper", "link"]);
      });
    },
  );
}
