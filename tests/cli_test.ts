/**
 * The `atomic-write` command, run for real: each test spawns `cli.ts` on the
 * runtime running the tests and checks the file, the exit status and stderr.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import {
  read,
  root,
  runtimeName,
  scriptCommand,
  tempsIn,
  withTempDir,
} from "./_fixtures.ts";
import { linkedTree } from "./_path_fixtures.ts";
import {
  NOBODY,
  notRoot,
  stickyDir,
  withProtections,
} from "./_sticky_fixtures.ts";
import { injecting } from "./_commands.ts";
import { lockFile, writeFileAtomic } from "../mod.ts";

const cli = path.join(root, "cli.ts");
const isWindows = process.platform === "win32";

/** How a run of the command ended. */
interface Outcome {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Starts the command with `args`, its standard streams piped. */
function start(args: string[], cwd?: string): ChildProcess {
  const [exe, ...rest] = scriptCommand(cli, args);
  return spawn(exe, rest, { cwd, stdio: ["pipe", "pipe", "pipe"] });
}

/** The outcome of `child` once it has ended. */
function finished(child: ChildProcess): Promise<Outcome> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (text) => (stdout += text));
  child.stderr?.setEncoding("utf8").on("data", (text) => (stderr += text));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs the command with `args`, `input` on its standard input. */
function atomicWrite(
  args: string[],
  input: string | Uint8Array = "",
  cwd?: string,
): Promise<Outcome> {
  const child = start(args, cwd);
  const outcome = finished(child);
  // The command may exit before reading (bad usage): ignore EPIPE.
  child.stdin?.on("error", () => {});
  child.stdin?.end(input);
  return outcome;
}

function quote(arg: string): string {
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

/** Runs the POSIX shell `script`, in which `atomic-write` runs the command. */
function inShell(script: string): Promise<Outcome> {
  const command = scriptCommand(cli).map(quote).join(" ");
  const child = spawn("sh", [
    "-c",
    `atomic_write() { ${command} "$@"; }\n${script}`,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  return finished(child);
}

/**
 * A first run of the command in `inShell`, before a file-size limit: Deno
 * writes its cache of the compiled code as it starts, and a limit below its
 * size kills it by SIGXFSZ before the command can ignore that signal.
 */
const WARM = "atomic_write --version >/dev/null";

/** Resolves once a temporary file of ours exists in `dir`. */
async function tempAppears(dir: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (tempsIn(dir).length > 0) return;
    if (child.exitCode !== null || child.signalCode !== null) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("the temporary file never appeared");
}

function modeOf(file: string): number {
  return fs.statSync(file).mode & 0o777;
}

function versionIn(file: string): string {
  return JSON.parse(fs.readFileSync(path.join(root, file), "utf8")).version;
}

/** Asserts that `file` holds `content` and that nothing else is left beside it. */
function aloneWith(file: string, content: string): void {
  assert.equal(read(file), content);
  assert.deepEqual(fs.readdirSync(path.dirname(file)), [path.basename(file)]);
}

test("atomic-write replaces FILE with standard input", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "config.json");
    fs.writeFileSync(file, '{"x":0}\n');
    const result = await atomicWrite([file], '{"x":1}\n');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), '{"x":1}\n');
    assert.equal(result.stdout, "");
    assert.equal(result.stderr, "");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("atomic-write creates FILE when it does not exist", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "new.txt");
    const result = await atomicWrite([file], "fresh\n");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), "fresh\n");
  });
});

test("atomic-write resolves a relative FILE against its working directory", async () => {
  await withTempDir(async (dir) => {
    const result = await atomicWrite(["out.txt"], "here\n", dir);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(path.join(dir, "out.txt")), "here\n");
  });
});

test("atomic-write changes nothing until standard input ends", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "data.txt");
    fs.writeFileSync(file, "old\n");
    const child = start([file]);
    const outcome = finished(child);
    child.stdin?.write("first half, ");
    await tempAppears(dir, child);
    assert.equal(read(file), "old\n");
    child.stdin?.end("second half\n");
    const result = await outcome;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), "first half, second half\n");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("atomic-write copies a large input byte for byte", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "big.bin");
    const input = new Uint8Array(5 * 1024 * 1024 + 7);
    for (let i = 0; i < input.length; i++) input[i] = (i * 7919) & 0xff;
    const result = await atomicWrite([file], input);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(new Uint8Array(fs.readFileSync(file)), input);
  });
});

test("atomic-write can read FILE upstream in the same pipeline", {
  skip: isWindows ? "needs a POSIX shell" : false,
}, async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "list.txt");
    fs.writeFileSync(file, "b\na\nc\n");
    const shell = await inShell(
      `sort ${quote(file)} | atomic_write ${quote(file)}`,
    );
    assert.equal(shell.code, 0, shell.stderr);
    assert.equal(read(file), "a\nb\nc\n");
  });
});

test(
  "atomic-write reads a regular file on standard input from the offset the shell left",
  {
    skip: isWindows ? "needs a POSIX shell" : false,
  },
  async () => {
    await withTempDir(async (dir) => {
      const data = path.join(dir, "data.csv");
      // Longer than one read, so that every chunk after the first counts too.
      const rows = Array.from({ length: 20_000 }, (_, i) => `${i},${i * 7}\n`);
      fs.writeFileSync(data, "id,value\n" + rows.join(""));
      const body = path.join(dir, "body.csv");
      const log = path.join(dir, "log.csv");
      fs.writeFileSync(log, "old\n");
      for (const args of [[body], ["--append", log]]) {
        const shell = await inShell(
          `{ read -r header; atomic_write ${args.map(quote).join(" ")}; } < ${
            quote(data)
          }`,
        );
        assert.equal(shell.code, 0, shell.stderr);
      }
      assert.equal(read(body), rows.join(""));
      assert.equal(read(log), "old\n" + rows.join(""));
    });
  },
);

test("atomic-write keeps the permission bits of the file it replaces", {
  skip: isWindows ? "no POSIX permission bits" : false,
}, async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "secret");
    fs.writeFileSync(file, "old");
    fs.chmodSync(file, 0o600);
    const result = await atomicWrite([file], "new");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(modeOf(file), 0o600);
  });
});

test("atomic-write --mode 640 sets the permission bits", {
  skip: isWindows ? "no POSIX permission bits" : false,
}, async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "shared");
    fs.writeFileSync(file, "old");
    fs.chmodSync(file, 0o600);
    const result = await atomicWrite(["--mode", "640", file], "new");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(modeOf(file), 0o640);
    assert.equal(read(file), "new");
  });
});

test("atomic-write --mode=MODE is the same as --mode MODE", {
  skip: isWindows ? "no POSIX permission bits" : false,
}, async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "script.sh");
    const result = await atomicWrite(["--mode=0755", file], "#!/bin/sh\n");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(modeOf(file), 0o755);
  });
});

test("atomic-write --mode exits 2 on a value that is not octal", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "file");
    fs.writeFileSync(file, "old");
    for (const mode of ["9", "rw-r-----", "10000", ""]) {
      const result = await atomicWrite(["--mode", mode, file], "new");
      assert.equal(result.code, 2, `--mode "${mode}"`);
      assert.match(result.stderr, /^atomic-write: .*mode/);
    }
    assert.equal(read(file), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("atomic-write --mode exits 2 when its value is missing", async () => {
  await withTempDir(async (dir) => {
    const result = await atomicWrite([path.join(dir, "file"), "--mode"], "x");
    assert.equal(result.code, 2);
    assert.match(result.stderr, /"--mode" needs a value/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("atomic-write --mkdir creates missing parent directories", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "a", "b", "c.txt");
    const result = await atomicWrite(["--mkdir", file], "deep\n");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), "deep\n");
  });
});

test("atomic-write exits 1 naming the path and ENOENT when the directory is missing", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "missing", "c.txt");
    const result = await atomicWrite([file], "data\n");
    assert.equal(result.code, 1);
    assert.ok(result.stderr.startsWith("atomic-write: "), result.stderr);
    assert.ok(result.stderr.includes(`"${file}"`), result.stderr);
    assert.match(result.stderr, /\(ENOENT\)/);
    assert.match(result.stderr, /--mkdir/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("atomic-write exits 1 with EISDIR when standard input is a directory", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    fs.writeFileSync(file, "old");
    const result = await inShell(`atomic_write ${quote(file)} < ${quote(dir)}`);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /standard input .*\(EISDIR\)/);
    assert.equal(read(file), "old");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("atomic-write exits 1 with EISDIR when FILE is a directory", async () => {
  await withTempDir(async (dir) => {
    const target = path.join(dir, "sub");
    fs.mkdirSync(target);
    const result = await atomicWrite([target], "data\n");
    assert.equal(result.code, 1);
    assert.ok(result.stderr.includes(`"${target}"`), result.stderr);
    assert.match(result.stderr, /\(EISDIR/);
    assert.ok(fs.statSync(target).isDirectory());
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("atomic-write writes through a symbolic link and keeps the link", {
  skip: isWindows ? "symbolic links need privileges on Windows" : false,
}, async () => {
  await withTempDir(async (dir) => {
    const real = path.join(dir, "real.txt");
    const link = path.join(dir, "link.txt");
    fs.writeFileSync(real, "old\n");
    fs.symlinkSync("real.txt", link);
    const result = await atomicWrite([link], "new\n");
    assert.equal(result.code, 0, result.stderr);
    assert.ok(fs.lstatSync(link).isSymbolicLink());
    assert.equal(read(real), "new\n");
  });
});

test("atomic-write --no-overwrite creates FILE when it does not exist", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "once.lock");
    const result = await atomicWrite(["--no-overwrite", file], "1234\n");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), "1234\n");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("atomic-write --no-overwrite exits 1 when the file exists", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "once.lock");
    fs.writeFileSync(file, "first\n");
    const result = await atomicWrite(["--no-overwrite", file], "second\n");
    assert.equal(result.code, 1);
    assert.ok(result.stderr.includes(`"${file}"`), result.stderr);
    assert.match(result.stderr, /\(EEXIST\)/);
    assert.equal(read(file), "first\n");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("atomic-write --append adds standard input after the old content", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "log.txt");
    fs.writeFileSync(file, "one\n");
    const result = await atomicWrite(["--append", file], "two\n");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), "one\ntwo\n");
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("atomic-write --append keeps an old content larger than its buffer", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "log.txt");
    const old = "x".repeat(200_000) + "\n";
    fs.writeFileSync(file, old);
    const result = await atomicWrite(["--append", file], "tail\n");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), old + "tail\n");
  });
});

test("atomic-write --append creates FILE when it does not exist", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "log.txt");
    const result = await atomicWrite(["--append", file], "first\n");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), "first\n");
  });
});

test("atomic-write --append with empty input keeps the old content", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "log.txt");
    fs.writeFileSync(file, "one\n");
    const result = await atomicWrite(["--append", file], "");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), "one\n");
  });
});

test("atomic-write exits 2 when --append and --no-overwrite are combined", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const result = await atomicWrite(["--append", "--no-overwrite", file], "x");
    assert.equal(result.code, 2);
    assert.match(result.stderr, /exclude each other/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("atomic-write --no-fsync still replaces the file", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "cache.json");
    fs.writeFileSync(file, "old");
    const result = await atomicWrite(["--no-fsync", file], "new");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), "new");
    assert.deepEqual(tempsIn(dir), []);
  });
});

/**
 * The fsync-family system calls the command makes on files under `dir`,
 * counted with strace (`-y` names each descriptor's file, so the runtime's
 * own fsyncs elsewhere, as of Deno's code cache on a first run, are not
 * counted).
 */
function fsyncCalls(args: string[], dir: string): number {
  const log = path.join(dir, "strace.log");
  const result = spawnSync("strace", [
    "-f",
    "-qq",
    "-y",
    "-e",
    "trace=fsync,fdatasync,sync_file_range",
    "-o",
    log,
    ...scriptCommand(cli, args),
  ], { input: "data\n", encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  const lines = fs.readFileSync(log, "utf8").split("\n");
  fs.rmSync(log);
  const real = fs.realpathSync(dir);
  return lines.filter((line) =>
    /\b(fsync|fdatasync|sync_file_range)\(/.test(line) &&
    (line.includes(`<${real}/`) || line.includes(`<${real}>`))
  ).length;
}

const noStrace = process.platform !== "linux" ||
    spawnSync("strace", ["-V"]).status !== 0
  ? "needs strace on Linux"
  : false;

test("atomic-write fsyncs the file and its directory", {
  skip: noStrace,
}, async () => {
  await withTempDir((dir) => {
    assert.ok(fsyncCalls([path.join(dir, "f")], dir) >= 2);
  });
});

test("atomic-write --no-fsync makes no fsync calls", {
  skip: noStrace,
}, async () => {
  await withTempDir((dir) => {
    assert.equal(fsyncCalls(["--no-fsync", path.join(dir, "f")], dir), 0);
  });
});

test(
  "atomic-write exits 3 when only the directory fsync fails, with the new content in place",
  {
    skip: noStrace,
  },
  async () => {
    await withTempDir((dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      // strace fails every fsync of the directory itself (-P), not the file's.
      const result = spawnSync("strace", [
        ...injecting("fsync", "error=EIO", dir),
        ...scriptCommand(cli, [file]),
      ], { input: "new", encoding: "utf8" });
      assert.equal(result.status, 3, result.stderr);
      assert.match(result.stderr, /fsync directory .*\(EIO\).*in place/);
      assert.equal(read(file), "new");
      assert.deepEqual(tempsIn(dir), []);
    });
  },
);

/**
 * Runs the command under strace, which delays each of `calls` (on `only`,
 * if given) by 400 ms, and sends it SIGTERM once `file` holds `expected`:
 * a signal that comes after the rename, while the directory's fsync or the
 * lock's release is still under way. Resolves to how the command ended.
 */
async function signalledOnceReplaced(
  args: string[],
  input: string,
  file: string,
  expected: string,
  calls: string,
  only?: string,
): Promise<Outcome> {
  const child = spawn("strace", [
    ...injecting(calls, "delay_enter=400000", only),
    ...scriptCommand(cli, args),
  ], { stdio: ["pipe", "pipe", "pipe"] });
  const outcome = finished(child);
  child.stdin?.end(input);
  const replaced = () => fs.existsSync(file) && read(file) === expected;
  for (let i = 0; i < 1000 && !replaced(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(replaced(), "the file was never replaced");
  const command = spawnSync("pgrep", ["-P", String(child.pid)], {
    encoding: "utf8",
  }).stdout.trim().split("\n")[0];
  process.kill(Number(command), "SIGTERM");
  return await outcome;
}

for (
  const [mode, args, old, expected, calls, inDir] of [
    ["plain", [], "old", "new", "fsync", true],
    ["--append", ["--append"], "old|", "old|new", "unlink,unlinkat", false],
    ["--update", ["--update"], "old", "OLD", "fsync", true],
  ] as const
) {
  test(
    `atomic-write (${mode}) exits 0 when a signal comes after the rename: FILE is written, and nothing is left`,
    { skip: noStrace },
    async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "f");
        fs.writeFileSync(file, old);
        const command = mode === "--update" ? ["--", "tr", "a-z", "A-Z"] : [];
        const result = await signalledOnceReplaced(
          [...args, file, ...command],
          "new",
          file,
          expected,
          calls,
          inDir ? dir : undefined,
        );
        assert.equal(result.code, 0, result.stderr);
        assert.equal(read(file), expected);
        assert.deepEqual(fs.readdirSync(dir), ["f"]);
      });
    },
  );
}

/** Starts the command with `args`, and `module` (`_slow_exit.ts`, `_slow_open.ts`) preloaded. */
function startSlowed(module: string, args: string[]): ChildProcess {
  const [exe, ...rest] = scriptCommand(cli, args);
  const preload = path.join(root, "tests", module);
  const flags = runtimeName() === "deno"
    ? [rest.shift()!, "--preload", preload] // after `run`
    : runtimeName() === "bun"
    ? ["--preload", preload]
    : ["--import", pathToFileURL(preload).href];
  return spawn(exe, [...flags, ...rest], { stdio: ["pipe", "pipe", "pipe"] });
}

for (
  const [mode, args, old, expected] of [
    ["plain", [], "old", "new"],
    ["--append", ["--append"], "old|", "old|new"],
    ["--update", ["--update"], "old", "OLD"],
  ] as const
) {
  test(
    `atomic-write (${mode}) exits 0 when a signal comes as it exits, its work done`,
    { skip: isWindows ? "no SIGTERM" : false },
    async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "f");
        fs.writeFileSync(file, old);
        const command = mode === "--update" ? ["--", "tr", "a-z", "A-Z"] : [];
        const child = startSlowed("_slow_exit.ts", [...args, file, ...command]);
        const outcome = finished(child);
        child.stdin?.end("new");
        let exiting = false;
        child.stderr?.on("data", (text) => {
          if (exiting || !String(text).includes("exiting")) return;
          exiting = true;
          // Not child.kill(): Deno's child then reports the signal as its
          // end whatever the real one was.
          process.kill(child.pid!, "SIGTERM");
        });
        const result = await outcome;
        assert.ok(exiting, result.stderr);
        assert.deepEqual([result.code, result.signal], [0, null]);
        assert.equal(read(file), expected);
        assert.deepEqual(fs.readdirSync(dir), ["f"]);
      });
    },
  );
}

for (
  const mode of [
    "--append",
    "--update",
  ] as const
) {
  test(
    `atomic-write ${mode} fails with EACCES, reading nothing, on a file another user made in a sticky directory after the lock looked at the name`,
    { skip: notRoot },
    async () => {
      await withTempDir(async (dir) => {
        const shared = stickyDir(dir);
        const file = path.join(shared, "f");
        const result = await withProtections(() => {
          const child = startSlowed(
            "_plant_on_open.ts",
            mode === "--append"
              ? ["--append", file]
              : ["--update", file, "--", "cat"],
          );
          const outcome = finished(child);
          child.stdin?.end("root's data");
          return outcome;
        });
        assert.equal(result.code, 1, result.stderr);
        assert.match(result.stderr, /belongs to another user \(uid 65534\)/);
        assert.match(result.stderr, /fs\.protected_regular/);
        assert.equal(read(file), "planted");
        assert.equal(fs.statSync(file).uid, NOBODY);
        assert.deepEqual(fs.readdirSync(shared), ["f"]);
      });
    },
  );
}

test(
  "atomic-write --update ends by a signal that comes once it holds FILE's lock, before CMD starts, and never starts CMD",
  { skip: isWindows ? "no SIGTERM" : false },
  async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      const ran = path.join(dir, "ran");
      const child = startSlowed("_slow_open.ts", [
        "--update",
        file,
        "--",
        "sh",
        "-c",
        `touch ${quote(ran)}; cat`,
      ]);
      const outcome = finished(child);
      let opening = false;
      child.stderr?.on("data", (text) => {
        if (opening || !String(text).includes("opening")) return;
        opening = true;
        process.kill(child.pid!, "SIGTERM"); // not child.kill(): see above
      });
      const result = await outcome;
      assert.ok(opening, result.stderr);
      assert.deepEqual([result.code, result.signal], [null, "SIGTERM"]);
      assert.equal(fs.existsSync(ran), false, "CMD was started");
      assert.equal(read(file), "old");
      assert.deepEqual(fs.readdirSync(dir), ["f"]);
    });
  },
);

test("atomic-write exits 1 and keeps a non-empty file when the input is empty", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "config.json");
    fs.writeFileSync(file, '{"keep":true}\n');
    const result = await atomicWrite([file], "");
    assert.equal(result.code, 1);
    assert.ok(result.stderr.includes(`"${file}"`), result.stderr);
    assert.match(result.stderr, /--allow-empty/);
    assert.equal(read(file), '{"keep":true}\n');
    assert.deepEqual(tempsIn(dir), []);
  });
});

test("atomic-write keeps a non-empty file when upstream fails without output", {
  skip: isWindows ? "needs a POSIX shell" : false,
}, async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "config.json");
    fs.writeFileSync(file, "precious\n");
    const missing = quote(path.join(dir, "no-such-input"));
    const shell = await inShell(`cat ${missing} | atomic_write ${quote(file)}`);
    assert.equal(shell.code, 1, shell.stderr);
    assert.match(shell.stderr, /--allow-empty/);
    assert.equal(read(file), "precious\n");
  });
});

test("atomic-write --allow-empty empties a non-empty file", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "queue");
    fs.writeFileSync(file, "job\n");
    const result = await atomicWrite(["--allow-empty", file], "");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), "");
  });
});

test("atomic-write creates an empty file from empty input when FILE does not exist", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "empty");
    const result = await atomicWrite([file], "");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), "");
  });
});

test("atomic-write accepts empty input when FILE is already empty", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "empty");
    fs.writeFileSync(file, "");
    const result = await atomicWrite([file], "");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), "");
  });
});

test("atomic-write exits 2 without a FILE", async () => {
  const result = await atomicWrite([], "data");
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^atomic-write: Missing FILE\n/);
  assert.match(result.stderr, /--help/);
});

test("atomic-write exits 2 when FILE is an empty string", async () => {
  const result = await atomicWrite([""], "data");
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^atomic-write: Cannot use path: it is empty\n/);
});

test("atomic-write exits 2 with more than one FILE", async () => {
  await withTempDir(async (dir) => {
    const files = [path.join(dir, "a"), path.join(dir, "b")];
    const result = await atomicWrite(files, "data");
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Expected one FILE, got 2/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("atomic-write --update with CMD not after -- exits 2 and says where CMD goes", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    fs.writeFileSync(file, "old\n");
    const result = await atomicWrite(["--update", file, "cat"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /got 2: CMD goes after "--"/);
    aloneWith(file, "old\n");
  });
});

test("atomic-write exits 2 on an unknown option", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    const result = await atomicWrite(["--fsync=never", file], "data");
    assert.equal(result.code, 2);
    assert.match(result.stderr, /Unknown option "--fsync=never"/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("atomic-write exits 2 on a FILE or CMD argument that is not valid UTF-8", {
  skip: process.platform !== "linux" ? "reads /proc/self/cmdline" : false,
}, async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    fs.writeFileSync(file, "old\n");
    // $name is "caf" and the byte 0xE9 (Latin-1 "é"): not UTF-8.
    const shell = await inShell(
      `cd ${quote(dir)} && name=$(printf 'caf\\351') &&
      { echo new | atomic_write "$name"; echo "plain $?"; } &&
      { atomic_write --update f -- echo "$name"; echo "update $?"; }`,
    );
    assert.equal(shell.stdout, "plain 2\nupdate 2\n", shell.stderr);
    assert.match(shell.stderr, /"caf\uFFFD": it is not valid UTF-8/);
    aloneWith(file, "old\n");
  });
});

test("atomic-write accepts a FILE whose name really contains U+FFFD", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "caf\uFFFD");
    const result = await atomicWrite([file], "new\n");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(file), "new\n");
  });
});

test("atomic-write accepts an argument that starts with a BOM and holds U+FFFD", async () => {
  await withTempDir(async (dir) => {
    // Relative: the BOM must start the argument to be at risk of being taken for a mark.
    const name = "\uFEFFcaf\uFFFD";
    const result = await atomicWrite([name], "new\n", dir);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(fs.readdirSync(dir), [name]);
    assert.equal(read(path.join(dir, name)), "new\n");
  });
});

test("atomic-write takes the argument after -- as FILE even if it starts with -", async () => {
  await withTempDir(async (dir) => {
    // Not `--` first: `bun cli.ts -- x` drops that `--` before the script
    // sees it (a Bun quirk the README mentions).
    const args = ["--mkdir", "--", "--odd-name"];
    const result = await atomicWrite(args, "odd\n", dir);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(read(path.join(dir, "--odd-name")), "odd\n");
  });
});

test("atomic-write -h prints the usage on stdout and exits 0", async () => {
  const result = await atomicWrite(["-h"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /^Usage: atomic-write \[options\] FILE\n/);
  for (
    const option of [
      "--append",
      "--no-overwrite",
      "--mkdir",
      "--mode",
      "--no-fsync",
      "--allow-empty",
      "--version",
    ]
  ) {
    assert.ok(result.stdout.includes(option), option);
  }
  assert.equal(result.stderr, "");
});

test("atomic-write --help prints the same usage as -h", async () => {
  const long = await atomicWrite(["--help"]);
  const short = await atomicWrite(["-h"]);
  assert.equal(long.code, 0);
  assert.equal(long.stdout, short.stdout);
});

test("atomic-write --version prints the version in deno.json and package.json", async () => {
  const result = await atomicWrite(["--version"]);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, `atomic-write ${versionIn("deno.json")}\n`);
  assert.equal(versionIn("package.json"), versionIn("deno.json"));
});

const NO_DEV_FULL = {
  skip: fs.existsSync("/dev/full") ? false : "no /dev/full",
};

test(
  "atomic-write keeps its documented exit status when stderr cannot be written",
  NO_DEV_FULL,
  async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old\n");
      const shell = await inShell(
        `f=${quote(file)}
      atomic_write --no-such-option 2>/dev/full; echo "usage $?"
      atomic_write "$f" </dev/null 2>/dev/full; echo "empty $?"
      atomic_write --update "$f" -- sh -c 'exit 7' 2>/dev/full; echo "update $?"
      atomic_write --version >/dev/full 2>/dev/null; echo "version $?"`,
      );
      assert.equal(
        shell.stdout,
        "usage 2\nempty 1\nupdate 7\nversion 1\n",
        shell.stderr,
      );
      assert.equal(read(file), "old\n");
    });
  },
);

test(
  "atomic-write --version exits 1 with a message when stdout cannot be written",
  NO_DEV_FULL,
  async () => {
    const shell = await inShell("atomic_write --version >/dev/full");
    assert.equal(shell.code, 1, shell.stderr);
    assert.equal(
      shell.stderr,
      "atomic-write: Cannot write to standard output (ENOSPC)\n",
    );
  },
);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(
    `atomic-write leaves FILE untouched and no temp file on ${signal} while soaking`,
    {
      skip: isWindows ? "no POSIX signals" : false,
    },
    async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "state.json");
        fs.writeFileSync(file, "old\n");
        const child = start([file]);
        const outcome = finished(child);
        child.stdin?.on("error", () => {});
        child.stdin?.write("half of the new content");
        await tempAppears(dir, child);
        // process.kill: Deno's ChildProcess.kill() also closes the pipes.
        process.kill(child.pid as number, signal);
        const result = await outcome;
        assert.equal(result.signal, signal, `exit code ${result.code}`);
        assert.equal(read(file), "old\n");
        assert.deepEqual(tempsIn(dir), []);
        child.stdin?.destroy();
      });
    },
  );
}

test(
  "atomic-write leaves FILE untouched when SIGINT comes just before the end of its input",
  { skip: isWindows ? "no POSIX signals" : false },
  async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "state.json");
      // The signal, then the end of input at once: Ctrl-C in a pipeline.
      // Its handler may run after the end is read; it must still win.
      for (let round = 0; round < 20; round++) {
        fs.writeFileSync(file, "old\n");
        const child = start([file]);
        const outcome = finished(child);
        child.stdin?.on("error", () => {});
        child.stdin?.write("half of the new content");
        await tempAppears(dir, child);
        process.kill(child.pid as number, "SIGINT");
        child.stdin?.end();
        const result = await outcome;
        assert.equal(result.signal, "SIGINT", `round ${round}: ${result.code}`);
        assert.equal(read(file), "old\n", `round ${round}`);
        assert.deepEqual(tempsIn(dir), []);
      }
    });
  },
);

test("atomic-write's npm bin is built by npm ci (the prepare script), as the README's npx line needs", () => {
  const pkg = JSON.parse(
    fs.readFileSync(path.join(root, "package.json"), "utf8"),
  );
  assert.equal(pkg.bin["atomic-write"], "dist/cli.js");
  assert.match(pkg.scripts.prepare, /^npm run build$/);
  assert.match(pkg.scripts.build, /\btsc -p tsconfig\.build\.json\b/);
  const build = JSON.parse(
    fs.readFileSync(path.join(root, "tsconfig.build.json"), "utf8"),
  );
  assert.ok(build.files.includes("cli.ts"));
  assert.equal(build.compilerOptions.outDir, "dist");
  assert.match(
    fs.readFileSync(path.join(root, "README.md"), "utf8"),
    /npx atomic-write config\.json +# Node, from a clone after `npm ci`/,
  );
});

test("atomic-write cli.ts starts with a shebang for Node", () => {
  const first = fs.readFileSync(cli, "utf8").split("\n")[0];
  assert.equal(first, "#!/usr/bin/env node");
  if (!isWindows) assert.ok((fs.statSync(cli).mode & 0o111) !== 0);
  assert.ok(["deno", "bun", "node"].includes(runtimeName()));
});

const POSIX_ONLY = { skip: isWindows ? "needs a POSIX shell" : false };

/**
 * Runs `atomic-write [flags] --update FILE -- CMD…` on a FILE in `dir` that
 * holds `initial` (or does not exist: `null`); returns FILE and the outcome.
 */
async function update(
  dir: string,
  initial: string | null,
  cmd: string[],
  flags: string[] = [],
): Promise<{ file: string; result: Outcome }> {
  const file = path.join(dir, "config.json");
  if (initial !== null) fs.writeFileSync(file, initial);
  const result = await atomicWrite([...flags, "--update", file, "--", ...cmd]);
  return { file, result };
}

test(
  "atomic-write --update replaces FILE with CMD's output, FILE's content on its input",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const { file, result } = await update(dir, '{"port":1}\n', [
        "sed",
        "s/1/8080/",
      ]);
      assert.equal(result.code, 0, result.stderr);
      aloneWith(file, '{"port":8080}\n');
    });
  },
);

test(
  "atomic-write --update passes on a failing CMD's status and stderr, FILE unchanged",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const { file, result } = await update(dir, '{"port":1}\n', [
        "sh",
        "-c",
        "echo partial; echo 'jq: error' >&2; exit 5",
      ]);
      assert.equal(result.code, 5);
      assert.match(result.stderr, /^jq: error\n/);
      assert.match(result.stderr, /exited with 5/);
      aloneWith(file, '{"port":1}\n');
    });
  },
);

test(
  "atomic-write --update exits 128+n and leaves FILE when a real-time signal ends CMD",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      for (
        const script of [
          'echo \'{"a":\'; kill -34 $$; echo "1}"',
          "kill -34 $$",
        ]
      ) {
        const { file, result } = await update(dir, '{"a":0}\n', [
          "sh",
          "-c",
          script,
        ]);
        assert.equal(result.code, 128 + 34, `${script}: ${result.stderr}`);
        assert.match(result.stderr, /signal 34/);
        aloneWith(file, '{"a":0}\n');
      }
    });
  },
);

test(
  "atomic-write --update says a status above 128 + 64 is an exit, not a signal",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const { file, result } = await update(dir, "old\n", [
        "sh",
        "-c",
        "exit 255",
      ]);
      assert.equal(result.code, 255);
      assert.match(result.stderr, /"sh -c exit 255" exited with 255:/);
      aloneWith(file, "old\n");
    });
  },
);

test(
  "atomic-write --update exits 2, running nothing, when an environment variable is not valid UTF-8",
  { skip: process.platform !== "linux" ? "reads /proc/self/environ" : false },
  async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old\n");
      // Node and Bun would hand CMD "x\uFFFDy", Deno no FOO at all.
      const shell = await inShell(
        `FOO=$(printf 'x\\377y') atomic_write --update ${
          quote(file)
        } -- sh -c 'echo ran >&2; echo new'; echo "status $?"`,
      );
      assert.equal(shell.stdout, "status 2\n", shell.stderr);
      assert.match(
        shell.stderr,
        /the environment variable "FOO": it is not valid UTF-8/,
      );
      assert.doesNotMatch(shell.stderr, /ran/);
      aloneWith(file, "old\n");
    });
  },
);

/** `--update` of a FILE holding "old" by a script `echo ok`, without `#!`, of bits `mode`. */
function updateByScript(
  dir: string,
  mode: number,
): Promise<{ file: string; result: Outcome }> {
  const script = path.join(dir, "echo-ok");
  fs.writeFileSync(script, "echo ok\n", { mode });
  return update(dir, "old\n", [script]);
}

test(
  "atomic-write --update runs a CMD script without #! through the shell",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const { file, result } = await updateByScript(dir, 0o755);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(read(file), "ok\n");
    });
  },
);

test("atomic-write --update exits 127 when CMD cannot be started", async () => {
  await withTempDir(async (dir) => {
    const { file, result } = await update(dir, "old\n", ["no-such-cmd-x"]);
    assert.equal(result.code, 127);
    assert.match(result.stderr, /no-such-cmd-x/);
    assert.equal(read(file), "old\n");
  });
});

test(
  "atomic-write --update runs CMD named by its path when PATH has no shell",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      // The runtime is named by its path: only the shells that run CMD
      // would be looked up, and they are /bin/sh.
      const file = path.join(dir, "config.json");
      fs.writeFileSync(file, "old\n");
      const result = await inShell(
        `PATH=/nonexistent atomic_write --update ${quote(file)} -- /bin/cat`,
      );
      assert.equal(result.code, 0, result.stderr);
      aloneWith(file, "old\n");
      const failed = await inShell(
        `PATH=/nonexistent atomic_write --update ${
          quote(file)
        } -- /bin/sh -c "exit 9"`,
      );
      assert.equal(failed.code, 9, failed.stderr);
      assert.match(failed.stderr, /exited with 9/);
    });
  },
);

test(
  "atomic-write fails with EFBIG past a file-size limit, FILE unchanged and nothing left, instead of dying of SIGXFSZ",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "config.json");
      const big = path.join(dir, "big");
      fs.writeFileSync(file, "old\n");
      fs.writeFileSync(big, new Uint8Array(300_000));
      // 100 blocks (of 512 or 1024 bytes): less than the input.
      const result = await inShell(
        `${WARM} && ulimit -f 100 && atomic_write ${quote(file)} < ${
          quote(big)
        }`,
      );
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /\(EFBIG\)/);
      assert.equal(read(file), "old\n");
      assert.deepEqual(fs.readdirSync(dir).sort(), ["big", "config.json"]);
    });
  },
);

test(
  "atomic-write --update fails with EFBIG past a file-size limit amid CMD's output, FILE unchanged and nothing left",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "config.json");
      // CMD's output is left mid-way: destroyed with an AbortError, it made
      // Deno reject a promise no one could catch, in some rounds.
      for (let round = 0; round < 6; round++) {
        fs.writeFileSync(file, "old\n");
        const result = await inShell(
          `${WARM} && ulimit -f 100 && atomic_write --update ${
            quote(file)
          } -- sh -c 'head -c 120000 /dev/zero 2>/dev/null'`,
        );
        // (head's own stderr is dropped: where its write finds the pipe
        // closed it may say "Broken pipe", which CMD's stderr passes on.)
        assert.equal(result.code, 1, `round ${round}: ${result.stderr}`);
        assert.match(result.stderr, /^atomic-write: .*\(EFBIG\)\n$/);
        assert.equal(read(file), "old\n");
        assert.deepEqual(fs.readdirSync(dir), ["config.json"]);
      }
    });
  },
);

test(
  "atomic-write --update exits 126 when CMD is not executable",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const { file, result } = await updateByScript(dir, 0o644);
      assert.equal(result.code, 126, result.stderr);
      assert.match(result.stderr, /echo-ok: Permission denied/);
      assert.equal(read(file), "old\n");
    });
  },
);

test(
  "atomic-write --update creates a missing FILE from CMD's output on empty input",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const { file, result } = await update(dir, null, [
        "sh",
        "-c",
        'printf "got[%s]" "$(cat)"',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(read(file), "got[]");
    });
  },
);

test(
  "atomic-write --update keeps a non-empty FILE when CMD prints nothing, unless --allow-empty",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const refused = await update(dir, "keep\n", ["true"]);
      assert.equal(refused.result.code, 1);
      assert.match(refused.result.stderr, /--allow-empty/);
      assert.equal(read(refused.file), "keep\n");
      const allowed = await update(dir, null, ["true"], ["--allow-empty"]);
      assert.equal(allowed.result.code, 0, allowed.result.stderr);
      assert.equal(read(allowed.file), "");
    });
  },
);

test(
  "atomic-write --update streams CMD's output into the temporary file while CMD runs",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "config.json");
      fs.writeFileSync(file, "old\n");
      const go = path.join(dir, "go");
      const size = 1024 * 1024;
      const child = start([
        "--update",
        file,
        "--",
        "sh",
        "-c",
        `head -c ${size} /dev/zero; while [ ! -e ${
          quote(go)
        } ]; do sleep 0.05; done`,
      ]);
      const outcome = finished(child);
      child.stdin?.end();
      // Not held in memory until CMD ends: most of its output is on disk
      // before that (the file may still buffer its last chunk).
      let written = 0;
      for (let i = 0; i < 800 && written < size / 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        const temp = tempsIn(dir).find((name) => !name.includes("lock"));
        written = temp ? fs.statSync(path.join(dir, temp)).size : 0;
      }
      fs.writeFileSync(go, "");
      const result = await outcome;
      assert.ok(written >= size / 2, `${written} bytes written while CMD ran`);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(fs.statSync(file).size, size);
    });
  },
);

test(
  "atomic-write --update=FILE is the same as --update FILE",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "config.json");
      fs.writeFileSync(file, '{"port":1}\n');
      const result = await atomicWrite([
        `--update=${file}`,
        "--",
        "sed",
        "s/1/8080/",
      ]);
      assert.equal(result.code, 0, result.stderr);
      aloneWith(file, '{"port":8080}\n');
    });
  },
);

test("atomic-write --update exits 2 without -- CMD, or combined with --append", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    for (
      const args of [
        ["--update", file],
        ["--update", file, "--"],
        ["--update"],
        ["--update=", "--", "cat"],
        ["--append", "--update", file, "--", "cat"],
      ]
    ) {
      const result = await atomicWrite(args);
      assert.equal(result.code, 2, args.join(" "));
    }
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("atomic-write --update runs in parallel lose no update", {
  ...POSIX_ONLY,
  timeout: 180_000,
}, async () => {
  await withTempDir(async (dir) => {
    const runs = Array.from(
      { length: 4 },
      () => update(dir, null, ["sh", "-c", "echo $(( $(cat) + 1 ))"]),
    );
    for (const { result } of await Promise.all(runs)) {
      assert.equal(result.code, 0, result.stderr);
    }
    assert.equal(read(path.join(dir, "config.json")), "4\n");
  });
});

test("atomic-write --help documents --update", async () => {
  const result = await atomicWrite(["--help"]);
  assert.match(result.stdout, /--update FILE -- CMD \[ARGS\.\.\.\]/);
});

test(
  "atomic-write --update goes through a linked directory for alias/.., as the other modes do",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const { real, alias } = linkedTree(dir);
      fs.writeFileSync(real, "real\n");
      fs.writeFileSync(path.join(dir, "target.json"), "beside\n");
      const result = await atomicWrite([
        "--update",
        `${alias}/../target.json`,
        "--",
        "sed",
        "s/$/+U/",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(read(real), "real+U\n");
      assert.equal(read(path.join(dir, "target.json")), "beside\n");
    });
  },
);

test("atomic-write --update fails with EISDIR on FILE/, as the other modes do", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "nf");
    const result = await atomicWrite(["--update", `${file}/`, "--", "echo"]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /EISDIR/);
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test(
  "atomic-write --append waits for FILE's lock and appends to what its holder wrote",
  async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "log");
      fs.writeFileSync(file, "line1\n");
      const lock = await lockFile(file);
      const child = start(["--append", file]);
      const outcome = finished(child);
      child.stdin?.end("appended\n");
      // It must not read FILE (nor replace it) while the lock is held.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(child.exitCode, null, "it finished under another's lock");
      await writeFileAtomic(file, "line1\nby the holder\n");
      await lock.release();
      const result = await outcome;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(read(file), "line1\nby the holder\nappended\n");
    });
  },
);

test(
  "atomic-write --update ended by SIGTERM passes it on to CMD and leaves FILE, no lock and no temporary file",
  POSIX_ONLY,
  async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "config.json");
      fs.writeFileSync(file, "old\n");
      const marker = path.join(dir, "cmd-started");
      const child = start([
        "--update",
        file,
        "--",
        "sh",
        "-c",
        `touch ${quote(marker)}; exec sleep 37.25`,
      ]);
      const outcome = finished(child);
      child.stdin?.end();
      for (let i = 0; i < 400 && !fs.existsSync(marker); i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      fs.rmSync(marker);
      child.kill("SIGTERM");
      const result = await outcome;
      assert.ok(
        result.signal === "SIGTERM" || result.code === 143,
        `${result.code} ${result.signal} ${result.stderr}`,
      );
      aloneWith(file, "old\n");
      // CMD got the signal too: no `sleep 37.25` of this test is left.
      const sleeping = spawnSync("pgrep", ["-f", "^sleep 37.25$"]);
      assert.notEqual(sleeping.status, 0, sleeping.stdout?.toString());
    });
  },
);

test("atomic-write --update and --append suggest --mkdir when FILE's directory is missing", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "missing", "f");
    for (
      const [args, input] of [
        [["--update", file, "--", "cat"], ""],
        [["--append", file], "x"],
      ] as const
    ) {
      const result = await atomicWrite([...args], input);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /ENOENT/);
      assert.match(result.stderr, /Try --mkdir/);
    }
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});

test("atomic-write --update exits 2 when CMD is an empty string", async () => {
  await withTempDir(async (dir) => {
    const file = path.join(dir, "f");
    fs.writeFileSync(file, "old\n");
    const result = await atomicWrite(["--update", file, "--", ""]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /Missing CMD/);
    assert.equal(read(file), "old\n");
  });
});
