/**
 * A writer with `CAP_CHOWN` but without `CAP_FOWNER` (root in a container
 * started with `--cap-drop FOWNER`, or in a pod with `drop: [ALL]` and
 * `add: [CHOWN]`; a service given `CAP_CHOWN` alone): it may give a file
 * away, but may not set the bits or the ACL of a file that is no longer its
 * own. The writers run in a child (setpriv): as root whose bounding set
 * lacks `CAP_FOWNER`, which drops it from the effective set at the exec, or
 * as nobody with the ambient capability `CAP_CHOWN` (from a world-readable
 * copy of the checkout, which may be private). Each child prints its
 * effective set first, and a child that still has `CAP_FOWNER`, or has no
 * `CAP_CHOWN`, fails the test (a probe made first skips, with the reason,
 * the tests of a writer that cannot be had here).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import {
  ownership,
  read,
  root,
  scriptCommand,
  withTempDir,
} from "./_fixtures.ts";
import {
  type CapabilityOutcome,
  hasCapability,
  hasCommand,
  withCapabilities,
} from "./_commands.ts";
import { stageForNobody } from "./_stage.ts";
import { detectAdapter } from "../src/runtime/detect.ts";

const CAP_CHOWN = 0n;
const CAP_FOWNER = 3n;
const NOBODY = 65534;

/** The owner of the files replaced: another user than the writer. */
const OTHER = 1000;

/** Who writes, in the child: how setpriv makes it, and how tests name it. */
interface Who {
  /** As test names say it: "as root without CAP_FOWNER". */
  readonly title: string;
  /** setpriv's options. */
  readonly setpriv: readonly string[];
  /** Whether it runs as nobody (from a staged copy, in a directory of its own). */
  readonly nobody: boolean;
}

const ROOT: Who = {
  title: "as root without CAP_FOWNER",
  setpriv: ["--bounding-set=-fowner"],
  nobody: false,
};

const USER: Who = {
  title: "as a user with CAP_CHOWN but not CAP_FOWNER",
  setpriv: [
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
    "--inh-caps=+chown",
    "--ambient-caps=+chown",
  ],
  nobody: true,
};

/** How a child ended (see {@linkcode withCapabilities}). */
type Outcome = CapabilityOutcome;

/**
 * Runs `command` as `who`, `input` on its standard input (and `env` in its
 * environment); it prints its effective set before the command starts.
 */
function runAs(
  who: Who,
  command: string[],
  input = "",
  env: Record<string, string> = {},
): Outcome {
  const outcome = withCapabilities(who.setpriv, command, input, env);
  return { ...outcome, stdout: outcome.stdout.trim() };
}

const has = hasCapability;

/** Whether `outcome`'s child had `CAP_CHOWN` and not `CAP_FOWNER`. */
function chownsAlone(outcome: Outcome): boolean {
  return has(outcome.caps, CAP_CHOWN) && !has(outcome.caps, CAP_FOWNER);
}

/** Why the tests of `who` cannot run here, or `false`: its child has `CAP_CHOWN` and not `CAP_FOWNER`. */
function cannotRunAs(who: Who): string | false {
  if (process.platform !== "linux") return "capabilities are Linux's";
  if (process.getuid?.() !== 0) return "needs root: files of another user";
  if (!hasCommand("setpriv")) return "setpriv (util-linux) is not installed";
  const probe = runAs(who, ["true"]);
  if (probe.status === 0 && chownsAlone(probe)) return false;
  return `setpriv ${
    who.setpriv.join(" ")
  } gives no child with CAP_CHOWN and without CAP_FOWNER here (effective set ${
    probe.caps.toString(16)
  }): ${probe.stderr.trim()}`;
}

const skips = new Map([ROOT, USER].map((who) => [who, cannotRunAs(who)]));

/** The failure a child printed. */
interface Failure {
  code: string;
  operation: string;
  message: string;
}

/** Runs the checkout's `script` with `args` as `who`, from `base` (a staged copy there, for nobody); checks its capabilities. */
type Child = (script: string, args: string[], input?: string) => Outcome;

/** A {@linkcode Child} runner for `who`, whose files go in `base`. */
function childOf(who: Who, base: string): Child {
  const stage = who.nobody
    ? stageForNobody(path.join(base, "stage"), [process.execPath])
    : null;
  const home = path.join(base, "home");
  if (who.nobody) {
    fs.mkdirSync(home);
    fs.chownSync(home, NOBODY, NOBODY);
  }
  return (script, args, input) => {
    const [exe, ...rest] = scriptCommand(stage?.path(script) ?? script, args);
    const env = { HOME: home, DENO_DIR: path.join(home, "deno") };
    const outcome = runAs(
      who,
      [stage?.path(exe) ?? exe, ...rest],
      input,
      who.nobody ? env : {},
    );
    assert.ok(
      chownsAlone(outcome),
      `the child's effective set: ${
        outcome.caps.toString(16)
      }; ${outcome.stderr}`,
    );
    return outcome;
  };
}

/** One way to replace a file, run by a child. */
interface Writer {
  name: string;
  /** What the file holds once it is replaced. */
  content: string;
  /** Replaces `target`; the failure, or `null` if it succeeded. */
  replace(child: Child, target: string): Failure | null;
}

/** `_capabilities_child.ts` with `api`. */
function childWriter(name: string, api: string, content = "new"): Writer {
  const script = path.join(root, "tests", "_capabilities_child.ts");
  return {
    name,
    content,
    replace: (child, target) => {
      const { stdout, stderr } = child(script, [api, target]);
      assert.ok(stdout !== "", stderr);
      return stdout === "ok" ? null : JSON.parse(stdout) as Failure;
    },
  };
}

const writers: Writer[] = [
  childWriter("writeFileAtomic()", "async"),
  childWriter("writeFileAtomicSync()", "sync"),
  childWriter("updateFileAtomic()", "update", "old updated"),
  {
    name: "atomic-write",
    content: "new",
    replace: (child, target) => {
      const run = child(path.join(root, "cli.ts"), [target], "new");
      if (run.status === 0) return null;
      // atomic-write: Cannot replace "…": OPERATION "…" failed (CODE: …)
      const message = run.stderr.trim().replace(/^atomic-write: /, "");
      const found = /: ([^:"]+) "[^"]*" failed \((E[A-Z]+)/.exec(message);
      return {
        code: found?.[2] ?? "",
        operation: found?.[1] ?? "",
        message,
      };
    },
  },
];

/**
 * Calls `fn` with a directory that `who` may write (nobody's own, for
 * nobody), and a child that runs as `who`.
 */
async function withWriter(
  who: Who,
  fn: (dir: string, child: Child) => void,
): Promise<void> {
  await withTempDir((base) => {
    fs.chmodSync(base, 0o755);
    const dir = path.join(base, "files");
    fs.mkdirSync(dir);
    if (who.nobody) fs.chownSync(dir, NOBODY, NOBODY);
    fn(dir, childOf(who, base));
  });
}

/** A file of `OTHER`'s, named `name` in `dir`, with the bits `mode`; its path. */
function othersFile(dir: string, name: string, mode: number): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, "old");
  fs.chownSync(file, OTHER, OTHER);
  fs.chmodSync(file, mode);
  return file;
}

for (const who of [ROOT, USER]) {
  for (const writer of writers) {
    test(
      `${writer.name} ${who.title} replaces another user's 0644 file, keeping its owner, group and bits, and leaves nothing beside it`,
      { skip: skips.get(who) },
      async () => {
        await withWriter(who, (dir, child) => {
          const target = othersFile(dir, "conf", 0o644);
          assert.equal(writer.replace(child, target), null);
          assert.equal(read(target), writer.content);
          assert.equal(ownership(target), `${OTHER}:${OTHER} 644`);
          assert.deepEqual(fs.readdirSync(dir), ["conf"]);
        });
      },
    );

    test(
      `${writer.name} ${who.title} fails with EPERM, saying why, to replace another user's set-group-ID file, which it leaves as it was, and nothing beside it`,
      { skip: skips.get(who) },
      async () => {
        await withWriter(who, (dir, child) => {
          const target = othersFile(dir, "program", 0o2755);
          const failure = writer.replace(child, target);
          assert.equal(failure?.code, "EPERM");
          assert.equal(failure?.operation, "chmod");
          assert.match(
            failure?.message ?? "",
            /only from a writer with CAP_FOWNER/,
          );
          assert.equal(read(target), "old");
          assert.equal(ownership(target), `${OTHER}:${OTHER} 2755`);
          assert.deepEqual(fs.readdirSync(dir), ["program"]);
        });
      },
    );
  }
}

/** Runs `command` (setfacl or getfacl) with `args`; its output. */
function acl(command: string, ...args: string[]): string {
  const run = spawnSync(command, args, { encoding: "utf8" });
  if (run.status !== 0) {
    throw new Error(`${command}: ${run.error?.message ?? run.stderr}`);
  }
  return run.stdout;
}

/** Why the ACL test cannot run here (besides those of the tests as root), or `false`. */
function cannotSeeAcls(): string | false {
  const skip = skips.get(ROOT);
  if (skip) return skip;
  if (!hasCommand("setfacl")) return "setfacl (Debian acl) is not installed";
  if (detectAdapter().sync.readAcl(root) === undefined) {
    return "this runtime cannot see ACLs (Node; Deno without --allow-ffi): see the README";
  }
  return false;
}

test(
  "writeFileAtomic() as root without CAP_FOWNER keeps the ACL of another user's file it replaces",
  { skip: cannotSeeAcls() },
  async () => {
    await withWriter(ROOT, (dir, child) => {
      const target = othersFile(dir, "shared", 0o640);
      acl("setfacl", "-m", "u:1001:rw", target);
      const before = acl("getfacl", "-n", "--omit-header", target);
      assert.match(before, /user:1001:rw-/);
      assert.equal(writers[0].replace(child, target), null);
      assert.equal(read(target), "new");
      assert.equal(acl("getfacl", "-n", "--omit-header", target), before);
      assert.equal(ownership(target), `${OTHER}:${OTHER} 660`);
      assert.deepEqual(fs.readdirSync(dir), ["shared"]);
    });
  },
);
