/**
 * Paths mean what the kernel says they mean: links and `..` are resolved by
 * the file system, not as text; names that can only be directories and
 * special files are refused before any temporary file exists.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { apis, failureOf, pathApis } from "./_apis.ts";
import { writeFileAtomic, writeFileAtomicSync } from "../mod.ts";
import {
  failsWith,
  read,
  root,
  scriptCommand,
  tempsIn,
  withTempDir,
} from "./_fixtures.ts";
import { linkedTree, mkfifo } from "./_path_fixtures.ts";
import { Skip, skipTest } from "./_skip.ts";
import { mountTmpfs } from "./_mounts.ts";

/** The command that has `tests/_child.ts` write `target` once with the `mode` API ("async" or "sync"). */
function childWrite(target: string, mode: string): string[] {
  return scriptCommand(path.join(root, "tests", "_child.ts"), [
    "write",
    target,
    mode,
  ]);
}

/** Writes `target` from a child (`childWrite`); what it printed ("ok" or the code), trimmed, and its stderr. */
function writeFrom(
  target: string,
  mode: string,
): { stdout: string; stderr: string } {
  const [exe, ...args] = childWrite(target, mode);
  const run = spawnSync(exe, args, { encoding: "utf8" });
  return { stdout: run.stdout.trim(), stderr: run.stderr };
}

/** What the kernel gives `fs.writeFileSync` for `file`: "ok" or the code. */
function plainOutcome(file: string): string {
  try {
    fs.writeFileSync(file, "plain");
    return "ok";
  } catch (error) {
    return (error as { code: string }).code;
  }
}

/** Makes a Unix socket file at `file` (a Node child listens on it and exits). */
function mksocket(file: string): string | null {
  const node = path.join(root, "node_modules", "node", "bin", "node");
  const made = spawnSync(node, [
    "-e",
    "require('net').createServer().listen(process.argv[1], () => process.exit(0))",
    file,
  ]);
  return made.status === 0 && fs.existsSync(file)
    ? null
    : "could not make a Unix socket";
}

/** Makes a character device like /dev/null at `file` (root only). */
function mkchar(file: string): string | null {
  if (process.getuid?.() !== 0) return "mknod needs root";
  const made = spawnSync("mknod", [file, "c", "1", "3"]);
  return made.status === 0 ? null : "mknod(1) failed";
}

const noShell = process.platform === "win32" && "needs sh";

/**
 * Makes, in `dir`, a file "caf" + the byte 0xE9 (Latin-1 "é": not UTF-8)
 * holding "old", and `link` to it. No string spells its name: decoded, it
 * reads "caf\uFFFD", another name.
 */
function linkToNonUtf8Name(dir: string): void {
  const made = spawnSync("sh", [
    "-c",
    `name=$(printf 'caf\\351') && printf old > "$name" && ln -s "$name" link`,
  ], { cwd: dir });
  assert.equal(made.status, 0, String(made.stderr));
}

/** Asserts that `dir` holds just what {@linkcode linkToNonUtf8Name} made. */
function assertNonUtf8NameKept(dir: string): void {
  const old = spawnSync("sh", ["-c", `cat "$(printf 'caf\\351')"`], {
    cwd: dir,
    encoding: "utf8",
  });
  assert.equal(old.stdout, "old");
  assert.equal(fs.readdirSync(dir).length, 2);
  assert.ok(!fs.existsSync(path.join(dir, "caf\uFFFD")));
}

const specials: [string, (file: string) => string | null][] = [
  ["a FIFO", mkfifo],
  ["a Unix socket", mksocket],
  ["a character device", mkchar],
];

for (const api of apis) {
  const { name, fails } = api;

  test(`${name} writes through a /proc/self/fd link to the file open there`, {
    skip: !fs.existsSync("/proc/self/fd") && "no /proc/self/fd here",
  }, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      const fd = fs.openSync(file, "r");
      try {
        await api.write(`/proc/self/fd/${fd}`, "new");
        assert.equal(read(file), "new");
        assert.deepEqual(fs.readdirSync(dir), ["f"]);
      } finally {
        fs.closeSync(fd);
      }
    });
  });

  test(
    `${name} ${fails} with ENOENT through a /proc/self/fd link to a file replaced since it was opened, writing nothing`,
    {
      skip: !fs.existsSync("/proc/self/fd") && "no /proc/self/fd here",
    },
    async () => {
      await withTempDir(async (dir) => {
        // The link's text is then "…/f (deleted)": no name leads to the open
        // file (as for a second write to a /dev/stdout redirected to a file).
        const file = path.join(dir, "f");
        fs.writeFileSync(file, "old");
        const fd = fs.openSync(file, "r");
        try {
          fs.writeFileSync(path.join(dir, "g"), "replacement");
          fs.renameSync(path.join(dir, "g"), file);
          const error = await failsWith(
            api.write(`/proc/self/fd/${fd}`, "new"),
            "ENOENT",
          );
          assert.match(error.message, /no name that leads back to it/);
          assert.equal(read(file), "replacement");
          assert.deepEqual(fs.readdirSync(dir), ["f"]);
        } finally {
          fs.closeSync(fd);
        }
      });
    },
  );

  test(`${name} follows a relative link reached through a linked directory from the link's real directory`, async () => {
    await withTempDir(async (dir) => {
      const { real, alias } = linkedTree(dir);
      await api.write(path.join(alias, "link"), "new");
      assert.equal(read(real), "new");
      assert.ok(!fs.existsSync(path.join(dir, "target.json")));
      assert.ok(
        fs.lstatSync(path.join(dir, "real", "sub", "link")).isSymbolicLink(),
      );
      assert.deepEqual(tempsIn(path.join(dir, "real")), []);
    });
  });

  test(
    `${name} ${fails} with EILSEQ for a link whose text is not UTF-8, writing no file of another name`,
    {
      skip: noShell,
    },
    async () => {
      await withTempDir(async (dir) => {
        linkToNonUtf8Name(dir);
        const error = await failsWith(
          api.write(path.join(dir, "link"), "new"),
          "EILSEQ",
        );
        assert.equal(error.operation, "readlink");
        assertNonUtf8NameKept(dir);
      });
    },
  );

  test(`${name} resolves .. after a linked directory through the link`, async () => {
    await withTempDir(async (dir) => {
      const { real, alias } = linkedTree(dir);
      await api.write(`${alias}/../target.json`, "new");
      assert.equal(read(real), "new");
      assert.deepEqual(fs.readdirSync(dir).sort(), ["alias", "real"]);
    });
  });

  for (
    const spelled of [
      "f.txt/",
      "d/",
      "none/",
      "f.txt/.",
      "d/.",
      "d/..",
      "f.txt/x/",
      "d/x/",
      "none/x/",
    ]
  ) {
    test(`${name} ${fails} like the kernel for "${spelled}" and changes nothing`, async () => {
      await withTempDir(async (dir) => {
        fs.writeFileSync(path.join(dir, "f.txt"), "old");
        fs.mkdirSync(path.join(dir, "d"));
        const file = `${dir}/${spelled}`;
        const error = await failsWith(api.write(file, "x"), plainOutcome(file));
        assert.match(error.message, /Cannot replace/);
        assert.equal(read(path.join(dir, "f.txt")), "old");
        assert.deepEqual(fs.readdirSync(dir).sort(), ["d", "f.txt"]);
        assert.deepEqual(fs.readdirSync(path.join(dir, "d")), []);
      });
    });
  }

  // What open(2) says for a link whose content names a directory: EISDIR
  // for "f.txt/" too (O_CREAT and a trailing slash), not ENOTDIR.
  for (
    const content of [
      "f.txt/",
      "none/",
      "d/",
      "d/x/",
      "f.txt/x/",
      "none/x/",
      "f.txt/.",
      "d/.",
      "link/",
    ]
  ) {
    test(`${name} ${fails} like the kernel for a link to "${content}" and changes nothing`, async () => {
      await withTempDir(async (dir) => {
        fs.writeFileSync(path.join(dir, "f.txt"), "old");
        fs.mkdirSync(path.join(dir, "d"));
        fs.symlinkSync(content, path.join(dir, "link"));
        fs.symlinkSync("link", path.join(dir, "via"));
        for (const file of [path.join(dir, "link"), path.join(dir, "via")]) {
          await failsWith(api.write(file, "x"), plainOutcome(file));
        }
        assert.equal(read(path.join(dir, "f.txt")), "old");
        assert.deepEqual(fs.readdirSync(dir).sort(), [
          "d",
          "f.txt",
          "link",
          "via",
        ]);
        assert.deepEqual(fs.readdirSync(path.join(dir, "d")), []);
      });
    });
  }

  test(`${name} ${fails} with ENOTSUP for a FIFO put where it wrote a file before, and leaves no temp`, async (t) => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "was-a-file");
      fs.writeFileSync(file, "old");
      await api.write(file, "a regular file"); // now a known plain file
      fs.rmSync(file);
      const skip = mkfifo(file);
      if (skip !== null) return void skipTest(t, skip);
      await failsWith(api.write(file, "x"), "ENOTSUP");
      assert.ok(fs.lstatSync(file).isFIFO());
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  for (const [what, make] of specials) {
    for (const viaLink of [false, true]) {
      const how = viaLink ? `a link to ${what}` : what;
      test(`${name} ${fails} with ENOTSUP for ${how} and leaves it untouched`, async (t) => {
        await withTempDir(async (dir) => {
          const special = path.join(dir, "special");
          const skip = make(special);
          if (skip !== null) return void skipTest(t, skip);
          const before = fs.lstatSync(special);
          const target = viaLink ? path.join(dir, "link") : special;
          if (viaLink) fs.symlinkSync("special", target);
          const error = await failsWith(api.write(target, "x"), "ENOTSUP");
          assert.match(error.message, /not a regular file/);
          const after = fs.lstatSync(special);
          assert.equal(after.ino, before.ino);
          assert.equal(after.mode, before.mode);
          assert.deepEqual(tempsIn(dir), []);
        });
      });
    }
  }
}

test(
  "writeFileAtomic() rejects /dev/stdout on a pipe with ENOTSUP, naming /dev/stdout",
  {
    skip: process.platform !== "linux" && "/dev/stdout is a Linux link here",
  },
  () => {
    const [exe, ...args] = scriptCommand(
      path.join(root, "tests", "_child.ts"),
      [
        "write",
        "/dev/stdout",
      ],
    );
    const child = spawnSync(exe, args, { encoding: "utf8" });
    assert.equal(child.stdout.trim(), "ENOTSUP", child.stderr);
  },
);

for (const api of pathApis.filter(({ name }) => /^(update|lock)/.test(name))) {
  test(
    `${api.name} fails with EILSEQ for a link whose text is not UTF-8, making no file of another name`,
    {
      skip: noShell,
    },
    async () => {
      await withTempDir(async (dir) => {
        linkToNonUtf8Name(dir);
        const error = await failureOf(() => api.use(path.join(dir, "link")));
        assert.equal(
          (error as { code?: unknown })?.code,
          "EILSEQ",
          String(error),
        );
        assertNonUtf8NameKept(dir);
      });
    },
  );
}

/** The APIs that take the file to write or lock (not a directory). */
const fileApis = pathApis.filter(({ name }) =>
  !/^(makeTemp|removeStale)/.test(name)
);

for (const api of fileApis) {
  test(
    `${api.name} fails with ELOOP, as the kernel does, for a symbolic link on a mount with nosymfollow, and changes nothing`,
    {
      skip: process.getuid?.() !== 0 ? "needs root: a tmpfs mount" : false,
    },
    async (t) => {
      await withTempDir(async (dir) => {
        let mounted;
        try {
          mounted = mountTmpfs(
            "atomic-nosymfollow",
            path.join(dir, "mnt"),
            "1m",
            [
              "nosymfollow",
            ],
          );
        } catch (error) {
          if (error instanceof Skip) return skipTest(t, error.message);
          throw error;
        }
        try {
          const mnt = mounted.dir;
          fs.writeFileSync(path.join(mnt, "target"), "old");
          fs.symlinkSync("target", path.join(mnt, "link"));
          fs.symlinkSync("none", path.join(mnt, "dangling"));
          // Its text names a directory: open(2) would say EISDIR, had it
          // followed the link.
          fs.symlinkSync("target/", path.join(mnt, "slash"));
          // Outside the mount, a link to one on it: the chain passes there.
          fs.symlinkSync(path.join(mnt, "link"), path.join(dir, "outside"));
          const names = ["link", "dangling", "slash"].map((n) =>
            path.join(mnt, n)
          );
          for (const file of [...names, path.join(dir, "outside")]) {
            assert.throws(() => fs.writeFileSync(file, "x"), { code: "ELOOP" });
            const error = await failureOf(() => api.use(file));
            assert.equal((error as { code?: unknown })?.code, "ELOOP", file);
          }
          assert.equal(read(path.join(mnt, "target")), "old");
          assert.deepEqual(fs.readdirSync(mnt).sort(), [
            "dangling",
            "link",
            "slash",
            "target",
          ]);
          assert.deepEqual(fs.readdirSync(dir).sort(), ["mnt", "outside"]);
        } finally {
          mounted.close();
        }
      });
    },
  );
}

for (const api of fileApis) {
  for (const end of ["target", "target/"]) {
    test(`${api.name} fails with ELOOP, as the kernel does, for a chain of links that passes more links than the kernel follows, and changes nothing (the last link's text "${end}")`, async () => {
      await withTempDir(async (dir) => {
        // 25 links, each through the linked directory `d`: 50 for the kernel,
        // which follows 40 in one path.
        const real = path.join(dir, "real");
        fs.mkdirSync(real);
        fs.symlinkSync("real", path.join(dir, "d"));
        fs.writeFileSync(path.join(real, "target"), "old");
        for (let i = 0; i < 25; i++) {
          fs.symlinkSync(`../d/l${i + 1}`, path.join(real, `l${i}`));
        }
        fs.symlinkSync(end, path.join(real, "l25"));
        const file = path.join(dir, "d", "l0");
        assert.throws(() => fs.writeFileSync(file, "x"), { code: "ELOOP" });
        const error = await failureOf(() => api.use(file));
        assert.equal((error as { code?: unknown })?.code, "ELOOP");
        assert.equal(read(path.join(real, "target")), "old");
        assert.equal(fs.readdirSync(real).length, 27);
      });
    });
  }
}

test("atomic-write --append through a linked directory appends to the real file", async () => {
  await withTempDir((dir) => {
    const { real, alias } = linkedTree(dir);
    for (
      const spelled of [path.join(alias, "link"), `${alias}/../target.json`]
    ) {
      fs.writeFileSync(real, "old\n");
      const [exe, ...args] = scriptCommand(path.join(root, "cli.ts"), [
        "--append",
        spelled,
      ]);
      const run = spawnSync(exe, args, { input: "new\n", encoding: "utf8" });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(read(real), "old\nnew\n", spelled);
      assert.deepEqual(fs.readdirSync(dir).sort(), ["alias", "real"]);
    }
  });
});

/**
 * Runs `command` in a private mount namespace (its mounts vanish with it)
 * after `setup`, a shell script given `dir` as `$1`; what it printed.
 */
function inMountNamespace(
  dir: string,
  setup: string,
  command: string[],
): { stdout: string; stderr: string } {
  const run = spawnSync("unshare", [
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    `${setup} && shift && exec "$@"`,
    "sh",
    dir,
    ...command,
  ], { encoding: "utf8" });
  return { stdout: run.stdout.trim(), stderr: run.stderr };
}

/**
 * A setup script for {@linkcode inMountNamespace}: `$1/host/f` on an
 * overlay whose lower layer is one tmpfs and upper layer another, whose
 * files' `stat` gives a device of the overlay's making, not the one
 * `mountinfo` names (as btrfs's subvolumes do too).
 */
const MIXED_OVERLAY = [
  'mkdir "$1/lower" "$1/upper"',
  'mount -t tmpfs lower "$1/lower" && mount -t tmpfs upper "$1/upper"',
  'mkdir "$1/upper/u" "$1/upper/w" && echo volume > "$1/lower/f"',
  'mount -t overlay overlay -o "lowerdir=$1/lower,upperdir=$1/upper/u,workdir=$1/upper/w" "$1/host"',
].join(" && ");

/**
 * A process in a private mount namespace of its own, as a container is,
 * once `setup` (a shell script given `dir` as `$1`) has mounted there; it
 * then runs `run` (in its place: the same pid). To be killed by the caller.
 * Its files are `/proc/PID/root/…` from here.
 */
async function startContainer(
  dir: string,
  setup: string,
  run = "sleep 60",
): Promise<ChildProcess> {
  const container = spawn("unshare", [
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    `${setup} && echo ready && exec ${run}`,
    "sh",
    dir,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    container.stdout.on("data", () => resolve());
    container.on("exit", () => reject(new Error("no container")));
  });
  return container;
}

/**
 * Asserts that a write refused, saying `said`, the file mounted at `dir`'s
 * `mounted` in `container`'s mount namespace (named `inside` from here),
 * which keeps that mount, and left no temporary file.
 */
function assertMountKept(
  dir: string,
  container: ChildProcess,
  inside: string,
  said: string,
): void {
  assert.match(said, /mount point in the mount namespace of process/);
  assert.equal(read(inside), "volume\n");
  assert.match(
    fs.readFileSync(`/proc/${container.pid}/mountinfo`, "utf8"),
    / \/.*\/mounted /,
  );
  assert.deepEqual(tempsIn(dir), []);
}

const needsMounts = {
  skip: process.platform !== "linux" || process.getuid?.() !== 0
    ? "needs root on Linux to mount in a private mount namespace"
    : false,
};

for (const mode of ["async", "sync"]) {
  const api = mode === "sync" ? "writeFileAtomicSync()" : "writeFileAtomic()";
  test(
    `${api} rejects a file bind-mounted from the same device with EBUSY at the rename, saying to mount the directory`,
    needsMounts,
    async () => {
      await withTempDir((dir) => {
        fs.writeFileSync(path.join(dir, "host.txt"), "host");
        fs.writeFileSync(path.join(dir, "mounted.txt"), "old");
        const run = inMountNamespace(
          dir,
          'mount --bind "$1/host.txt" "$1/mounted.txt"',
          childWrite(path.join(dir, "mounted.txt"), mode),
        );
        assert.equal(run.stdout, "EBUSY", run.stderr);
        assert.match(
          run.stderr,
          /rename failed \(EBUSY: the target is a mount point.*mount its directory instead/,
        );
        assert.equal(read(path.join(dir, "host.txt")), "host");
        assert.equal(read(path.join(dir, "mounted.txt")), "old");
        assert.deepEqual(tempsIn(dir), []);
      });
    },
  );

  for (
    const [how, volume, spelled] of [
      [
        "from another file system, through /proc/PID/root",
        'mount -t tmpfs host "$1/host" && echo volume > "$1/host/f"',
        (pid: number) => `/proc/${pid}/root`,
      ],
      [
        "from the same file system, through /proc/PID/task/TID/root",
        'echo volume > "$1/host/f"',
        (pid: number) => `/proc/${pid}/task/${pid}/root`,
      ],
      [
        "from an overlay of layers on two file systems (whose files' device is not the mount's), through /proc/PID/root",
        MIXED_OVERLAY,
        (pid: number) => `/proc/${pid}/root`,
      ],
    ] as const
  ) {
    test(
      `${api} rejects a file mounted in another process's mount namespace ${how}, with EBUSY, keeping that mount`,
      needsMounts,
      async () => {
        await withTempDir(async (dir) => {
          fs.mkdirSync(path.join(dir, "host"));
          fs.writeFileSync(path.join(dir, "mounted"), "image");
          // A container's single-file volume; the writer is on the host.
          const container = await startContainer(
            dir,
            `${volume} && mount --bind "$1/host/f" "$1/mounted"`,
          );
          try {
            const inside = `${spelled(container.pid!)}${dir}/mounted`;
            const run = writeFrom(inside, mode);
            assert.equal(run.stdout, "EBUSY", run.stderr);
            assertMountKept(dir, container, inside, run.stderr);
          } finally {
            container.kill("SIGKILL");
          }
        });
      },
    );
  }

  test(
    `${api} rejects with EBUSY, keeping that mount, a file it replaced before that has since been mounted in another process's mount namespace`,
    needsMounts,
    async () => {
      await withTempDir(async (dir) => {
        fs.mkdirSync(path.join(dir, "host"));
        fs.writeFileSync(path.join(dir, "host", "f"), "volume\n");
        fs.writeFileSync(path.join(dir, "mounted"), "image");
        const container = await startContainer(dir, "true");
        try {
          const inside = `/proc/${container.pid}/root${dir}/mounted`;
          const write = mode === "sync"
            ? (data: string) =>
              Promise.resolve().then(() => writeFileAtomicSync(inside, data))
            : (data: string) => writeFileAtomic(inside, data);
          await write("first"); // now a file this process knows
          const mounted = spawnSync("nsenter", [
            "-t",
            String(container.pid),
            "-m",
            "mount",
            "--bind",
            path.join(dir, "host", "f"),
            path.join(dir, "mounted"),
          ], { encoding: "utf8" });
          assert.equal(mounted.status, 0, mounted.stderr);
          const error = await failsWith(write("second"), "EBUSY");
          assertMountKept(dir, container, inside, error.message);
        } finally {
          container.kill("SIGKILL");
        }
      });
    },
  );

  for (
    const [how, volume] of [
      [
        "another device",
        'mount -t tmpfs host "$1/host" && echo host > "$1/host/f"',
      ],
      [
        "an overlay of layers on two file systems (whose files' device is not the mount's)",
        MIXED_OVERLAY,
      ],
    ] as const
  ) {
    test(
      `${api} rejects a file mounted from ${how} with EBUSY before writing anything`,
      needsMounts,
      async () => {
        await withTempDir((dir) => {
          fs.mkdirSync(path.join(dir, "host"));
          fs.writeFileSync(path.join(dir, "mounted txt"), "old");
          // Docker's single-file volume: a file of the host's file system.
          const run = inMountNamespace(
            dir,
            `${volume} && mount --bind "$1/host/f" "$1/mounted txt"`,
            childWrite(path.join(dir, "mounted txt"), mode),
          );
          assert.equal(run.stdout, "EBUSY", run.stderr);
          assert.match(
            run.stderr,
            /: replace failed \(EBUSY: the target is a mount point.*mount its directory instead/,
          );
          assert.equal(read(path.join(dir, "mounted txt")), "old");
          assert.deepEqual(tempsIn(dir), []);
        });
      },
    );
  }

  for (
    const [how, setup] of [
      [
        "a directory bound above it",
        'mount --bind "$1/host/f" "$1/d/target" && mount --bind "$1/cover" "$1/d"',
      ],
      [
        "an older mount moved above it",
        'mount -t tmpfs cover "$1/cover" && printf plain > "$1/cover/target" && mount --bind "$1/host/f" "$1/d/target" && mount --move "$1/cover" "$1/d"',
      ],
    ] as const
  ) {
    test(
      `${api} replaces a plain file in another process's mount namespace where ${how} hides an earlier mount of that name`,
      needsMounts,
      async () => {
        await withTempDir(async (dir) => {
          for (const sub of ["host", "d", "cover"]) {
            fs.mkdirSync(path.join(dir, sub));
          }
          fs.writeFileSync(path.join(dir, "host", "f"), "volume");
          fs.writeFileSync(path.join(dir, "d", "target"), "image");
          fs.writeFileSync(path.join(dir, "cover", "target"), "plain");
          const container = await startContainer(dir, setup);
          try {
            const inside = `/proc/${container.pid}/root${dir}/d/target`;
            assert.equal(read(inside), "plain");
            const run = writeFrom(inside, mode);
            assert.equal(run.stdout, "ok", run.stderr);
            assert.equal(read(inside), "written by child");
            assert.equal(read(path.join(dir, "host", "f")), "volume");
            assert.deepEqual(tempsIn(path.dirname(inside)), []);
          } finally {
            container.kill("SIGKILL");
          }
        });
      },
    );
  }

  test(
    `${api} replaces a plain file in a chroot container where a mount on its directory hides an earlier mount of that name`,
    needsMounts,
    async () => {
      await withTempDir(async (dir) => {
        const rootfs = path.join(dir, "root");
        for (const sub of ["root/etc", "root/usr", "vol"]) {
          fs.mkdirSync(path.join(dir, sub), { recursive: true });
        }
        fs.writeFileSync(path.join(dir, "vol", "app.conf"), "volume");
        fs.writeFileSync(path.join(rootfs, "etc", "app.conf"), "image");
        for (const top of ["bin", "lib", "lib64", "sbin"]) {
          const link = `/${top}`;
          if (fs.lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) {
            fs.symlinkSync(fs.readlinkSync(link), path.join(rootfs, top));
          }
        }
        // Mounts made before the chroot, on the host's root, which the
        // container's mountinfo does not list.
        const container = await startContainer(
          dir,
          [
            'mount --rbind /usr "$1/root/usr"',
            'mount --bind "$1/vol/app.conf" "$1/root/etc/app.conf"',
            'mount -t tmpfs etc "$1/root/etc"',
            'printf plain > "$1/root/etc/app.conf"',
          ].join(" && "),
          'chroot "$1/root" /usr/bin/sleep 60',
        );
        try {
          const inside = `/proc/${container.pid}/root/etc/app.conf`;
          const rootOf = `/proc/${container.pid}/root`;
          for (let i = 0; i < 200 && fs.readlinkSync(rootOf) !== rootfs; i++) {
            await new Promise((resolve) => setTimeout(resolve, 10)); // chroot
          }
          assert.equal(read(inside), "plain");
          const run = writeFrom(inside, mode);
          assert.equal(run.stdout, "ok", run.stderr);
          assert.equal(read(inside), "written by child");
          assert.equal(read(path.join(dir, "vol", "app.conf")), "volume");
        } finally {
          container.kill("SIGKILL");
        }
      });
    },
  );

  test(
    `${api} rejects a file mounted where a thread's root reaches and its process's root does not (/proc/PID/task/TID/root), with EBUSY, keeping that mount`,
    {
      skip: needsMounts.skip ||
        (fs.existsSync("/usr/bin/python3") ? false : "needs python3"),
    },
    async () => {
      await withTempDir(async (dir) => {
        for (const sub of ["jail", "outside", "vol"]) {
          fs.mkdirSync(path.join(dir, sub));
        }
        fs.writeFileSync(path.join(dir, "vol", "app.conf"), "volume");
        fs.writeFileSync(path.join(dir, "outside", "app.conf"), "image");
        // A thread keeps the root it had (unshare(CLONE_FS)); then the
        // process chroots into `jail`, below which its mountinfo lists.
        const python = [
          "import ctypes, os, sys, threading, time",
          "libc = ctypes.CDLL(None, use_errno=True)",
          "kept = threading.Event()",
          "def keep(): libc.unshare(0x200); kept.set(); time.sleep(60)",
          "threading.Thread(target=keep, daemon=True).start()",
          "kept.wait(); os.chroot(sys.argv[1]); time.sleep(60)",
        ].join("\n");
        const container = await startContainer(
          dir,
          'mount --bind "$1/vol/app.conf" "$1/outside/app.conf"',
          `python3 -c '${python}' "$1/jail"`,
        );
        try {
          const proc = `/proc/${container.pid}`;
          const jail = path.join(dir, "jail");
          for (let i = 0; i < 300; i++) {
            const root = fs.readlinkSync(`${proc}/root`);
            if (root === jail && fs.readdirSync(`${proc}/task`).length > 1) {
              break;
            }
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          const thread = fs.readdirSync(`${proc}/task`).find((tid) =>
            fs.readlinkSync(`${proc}/task/${tid}/root`) === "/"
          );
          assert.ok(thread !== undefined, "a thread that kept its root");
          const inside = `${proc}/task/${thread}/root${dir}/outside/app.conf`;
          const run = writeFrom(inside, mode);
          assert.equal(run.stdout, "EBUSY", run.stderr);
          assert.equal(read(inside), "volume");
        } finally {
          container.kill("SIGKILL");
        }
      });
    },
  );

  test(
    `${api} rejects a file mounted in another process's mount namespace and moved under a mount made since, with EBUSY, keeping that mount`,
    needsMounts,
    async () => {
      await withTempDir(async (dir) => {
        for (const sub of ["host", "p", "q"]) {
          fs.mkdirSync(path.join(dir, sub));
        }
        fs.writeFileSync(path.join(dir, "host", "f"), "volume");
        const container = await startContainer(
          dir,
          [
            'mount -t tmpfs p "$1/p" && echo image > "$1/p/target"',
            'mount --bind "$1/host/f" "$1/p/target"',
            'mount -t tmpfs q "$1/q" && mkdir "$1/q/sub"',
            'mount --move "$1/p" "$1/q/sub"',
          ].join(" && "),
        );
        try {
          const inside = `/proc/${container.pid}/root${dir}/q/sub/target`;
          const run = writeFrom(inside, mode);
          assert.equal(run.stdout, "EBUSY", run.stderr);
          assert.equal(read(inside), "volume");
          assert.deepEqual(tempsIn(path.dirname(inside)), []);
        } finally {
          container.kill("SIGKILL");
        }
      });
    },
  );

  test(
    `${api} rejects a file mounted in another process's mount namespace under which a mount of the host was propagated, with EBUSY, keeping that mount`,
    needsMounts,
    async () => {
      await withTempDir((dir) => {
        // In a namespace of its own, as the host: a shared mount, a
        // container that is its slave and mounts a volume file inside it,
        // then a mount of the host at the same place, which the kernel
        // slips under the container's (listed after it in mountinfo).
        const script = [
          "set -e; B=$1; MODE=$2; shift 2; mount --make-rprivate /",
          'mkdir "$B/share" "$B/vol"; echo volume > "$B/vol/X"',
          'mount -t tmpfs share "$B/share"; mount --make-shared "$B/share"',
          'mkdir "$B/share/sub"',
          "unshare --mount --propagation unchanged sleep 60 & C=$!",
          'while [ "$(readlink /proc/$C/ns/mnt)" = "$(readlink /proc/$$/ns/mnt)" ]; do sleep 0.01; done',
          `nsenter -t $C -m sh -c 'mount --make-slave "$0/share" && mount -t tmpfs c "$0/share/sub" && echo image > "$0/share/sub/X" && mount --bind "$0/vol/X" "$0/share/sub/X"' "$B"`,
          'mount -t tmpfs host "$B/share/sub"',
          '"$@" "/proc/$C/root$B/share/sub/X" "$MODE" || true',
          'echo "container reads $(nsenter -t $C -m cat "$B/share/sub/X")"',
          "kill $C",
        ].join("\n");
        const [exe, ...args] = scriptCommand(
          path.join(root, "tests", "_child.ts"),
          ["write"],
        );
        const run = spawnSync("unshare", [
          "--mount",
          "sh",
          "-c",
          script,
          "sh",
          dir,
          mode,
          exe,
          ...args,
        ], { encoding: "utf8" });
        assert.equal(
          run.stdout.trim(),
          "EBUSY\ncontainer reads volume",
          run.stderr,
        );
      });
    },
  );
}
