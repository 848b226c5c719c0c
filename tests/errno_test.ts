/**
 * One error code per failure on every runtime: the errno table covers every
 * errno Linux defines, and rare errnos injected with strace come out with
 * the same code on Deno, Bun and Node.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { ERRNO_NAMES, posixCode } from "../src/runtime/_errno.ts";
import { AtomicWriteError } from "../mod.ts";
import { root, scriptCommand, withTempDir } from "./_fixtures.ts";
import { skipTest } from "./_skip.ts";
import { injecting } from "./_commands.ts";

const onLinux = process.platform === "linux";

/** Linux's errnos from the installed kernel headers, or `null` if absent. */
function headerErrnos(): [number, string][] | null {
  const table = spawnSync("bash", [path.join(root, ".ci", "errno_table.sh")], {
    encoding: "utf8",
  });
  if (table.status !== 0) return null;
  return [...table.stdout.matchAll(/\[(\d+), "(E[A-Z0-9]+)"\]/g)].map((
    match,
  ) => [Number(match[1]), match[2]]);
}

/** Whether `strace` runs here. */
function straceMissing(): string | false {
  if (!onLinux) return "strace injects faults on Linux only";
  return spawnSync("strace", ["-V"]).status === 0
    ? false
    : "strace is not installed";
}

/**
 * Runs `_child.ts errno ARGS` (a write on this runtime) under strace, every
 * call of `calls` failing with `errno`; what the child said: the error's
 * code and errno, or "ok".
 */
function childWriteUnder(
  calls: string,
  errno: string,
  args: string[],
  mode = "errno",
): string {
  const command = scriptCommand(path.join(root, "tests", "_child.ts"), [
    mode,
    ...args,
  ]);
  const run = spawnSync("strace", [
    ...injecting(calls, `error=${errno}`),
    ...command,
  ], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

test("the errno table names every errno the Linux headers define", {
  skip: !onLinux && "the Linux table applies on Linux",
}, (t) => {
  const errnos = headerErrnos();
  if (errnos === null) return void skipTest(t, "no kernel headers installed");
  assert.ok(errnos.length > 120, `${errnos.length} errnos in the headers`);
  for (const [errno, name] of errnos) {
    const named = ERRNO_NAMES.get(errno);
    // 95: the runtimes (and libuv) say ENOTSUP where the header says EOPNOTSUPP.
    assert.ok(
      named === name || (errno === 95 && named === "ENOTSUP"),
      `${errno}: ${named} for ${name}`,
    );
  }
});

test("posixCode() names an errno that a runtime left unnamed", () => {
  const node = Object.assign(new Error("Unknown system error -67"), {
    code: "Unknown system error -67",
    errno: -67,
  });
  const deno = new Error("Link has been severed (os error 67): chmod 'x'");
  const expected = onLinux ? "ENOLINK" : ERRNO_NAMES.get(67);
  assert.equal(posixCode(node), expected);
  assert.equal(posixCode(deno), expected);
  assert.equal(
    posixCode(Object.assign(new Error(), { code: "ENOENT" })),
    "ENOENT",
  );
});

test(
  "AtomicWriteError has the errno of every code the Linux headers define, given the code only",
  {
    skip: !onLinux && "the Linux table applies on Linux",
  },
  (t) => {
    const errnos = headerErrnos();
    if (errnos === null) return void skipTest(t, "no kernel headers installed");
    for (const [errno, code] of errnos) {
      // As Deno's errors come: a code, no number.
      const cause = Object.assign(new Error(code), { code });
      const error = new AtomicWriteError({
        code,
        operation: "fsync",
        path: "/x",
        target: "/x",
        cause,
      });
      assert.equal(error.errno, -errno, code);
    }
  },
);

for (const [errno, number] of [["EROFS", 30], ["EIO", 5]] as const) {
  test(
    `writeFileAtomic() with mkdir: true reports ${errno} from mkdir with the same code on every runtime (Node's recursive mkdir says ENOENT)`,
    { skip: straceMissing() },
    async () => {
      await withTempDir((dir) => {
        const target = path.join(dir, "new", "deeper", "f.txt");
        const said = childWriteUnder("mkdir,mkdirat", errno, [target, "mkdir"]);
        assert.equal(said, `${errno} -${number}`);
        assert.deepEqual(fs.readdirSync(dir), []);
      });
    },
  );
}

// Linux's numbers: libuv names the first three, not EREMOTEIO or EUCLEAN.
const injected: Record<string, number> = {
  ENOSYS: 38,
  ENOLINK: 67,
  ESTALE: 116,
  EREMOTEIO: 121,
  EUCLEAN: 117,
};

for (const [errno, number] of Object.entries(injected)) {
  test(
    `writeFileAtomic() reports ${errno} injected into chmod with the same code and errno on every runtime`,
    {
      skip: straceMissing(),
    },
    async () => {
      await withTempDir((dir) => {
        const target = path.join(dir, "existing.txt");
        fs.writeFileSync(target, "old"); // an existing file: its mode is set
        const said = childWriteUnder("chmod,fchmod,fchmodat", errno, [target]);
        assert.equal(said, `${errno} -${number}`);
        assert.equal(fs.readFileSync(target, "utf8"), "old");
        assert.deepEqual(fs.readdirSync(dir), ["existing.txt"]);
      });
    },
  );
}

// Deno's node:fs names no system call but open's: the adapter names it.
for (
  const [calls, syscall] of [
    ["fsync,fdatasync", "fsync"],
    ["chmod,fchmod,fchmodat", "fchmod"],
  ] as const
) {
  test(
    `writeFileAtomic() names the system call ${syscall} in a failure of it on every runtime`,
    { skip: straceMissing() },
    async () => {
      await withTempDir((dir) => {
        const target = path.join(dir, "existing.txt");
        fs.writeFileSync(target, "old"); // an existing file: its mode is set
        const said = childWriteUnder(calls, "EIO", [target], "syscall");
        assert.equal(said, `EIO ${syscall}`);
        assert.deepEqual(fs.readdirSync(dir), ["existing.txt"]);
      });
    },
  );
}

const deno = path.join(root, "node_modules", ".bin", "deno");

test(
  "a write on Deno with the descriptor table full fails with EMFILE, as on Node and Bun, not EBUSY",
  {
    skip: !onLinux
      ? "prlimit is Linux's"
      : fs.existsSync(deno)
      ? false
      : "Deno is not installed here",
  },
  async () => {
    await withTempDir((dir) => {
      const child = path.join(root, "tests", "_full_table_child.ts");
      // Deno itself may panic where its own set-up meets the full table
      // (its `ext/signals` unwraps an EMFILE): that run says nothing of
      // the library, and is made again, five times at most.
      let run;
      for (let attempt = 1;; attempt++) {
        run = spawnSync(
          "prlimit",
          ["--nofile=128", deno, "run", "-A", child, dir],
          { encoding: "utf8" },
        );
        if (!run.stderr.includes("Deno has panicked") || attempt === 5) break;
        for (const name of fs.readdirSync(dir)) {
          fs.rmSync(path.join(dir, name), { force: true });
        }
      }
      assert.equal(run.status, 0, run.stderr);
      const outcomes: string[] = JSON.parse(run.stdout);
      assert.equal(outcomes.length, 30);
      for (const outcome of outcomes) {
        assert.ok(outcome === "ok" || outcome === "EMFILE", run.stdout);
      }
      assert.deepEqual(
        fs.readdirSync(dir).filter((name) => name.endsWith(".atomic-tmp")),
        [],
      );
    });
  },
);
