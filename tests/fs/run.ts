/**
 * The file-system matrix: the core behaviours of the unit suite (the
 * writes, the updates and their lock) on real file systems (ext4, xfs,
 * btrfs, tmpfs, overlayfs, a read-only mount, exFAT through FUSE, sshfs
 * over loopback, a bind-mounted target, and a full disk), on Deno, Bun and
 * Node 24. Each entry either works with the documented guarantees or fails
 * with the documented code, the target intact and no temporary or lock file
 * left. See `tests/fs/README.md`.
 *
 * Run as root with Node 24: `node tests/fs/run.ts [--families=ext4,xfs]
 * [--runtimes=deno,bun] [--only=TEXT] [--keep]`, or `npm run test:fs`.
 * Prints one line per case, the matrix as a table, and
 * `N passed, N failed`; exits non-zero on any failure.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { type Mount, mountProblem } from "../_mounts.ts";
import { Skip } from "../_skip.ts";
import { type Family, runSuite, type Suite } from "../_suite.ts";
import { Child, root, type Runtime } from "../torture/_harness.ts";
import {
  type Behaviour,
  BEHAVIOURS,
  describe,
  expect,
  leftoversIn,
  type Outcome,
  type Snapshot,
  unchanged,
} from "./_behaviours.ts";
import type { ChildCase } from "./_child.ts";
import {
  CORE,
  FILE_SYSTEMS,
  type FileSystem,
  type Unsupported,
} from "./_file_systems.ts";

const CHILD = path.join(root, "tests/fs/_child.ts");
/** How far past the free space the ENOSPC write goes. */
const OVER = 8 * 1024 * 1024;

/** One case after its child ran: where, what was there before, what the calls did. */
interface Staged {
  dir: string;
  /** Why the case could not be set up here. */
  setupError?: { code?: string | undefined; message: string };
  before?: Snapshot;
  outcomes?: Outcome[];
  /** Temporary and lock files in the directory once the calls settled. */
  leftovers?: string[];
}

function behavioursOf(fsys: FileSystem): Behaviour[] {
  const ids = fsys.behaviours ?? CORE;
  return BEHAVIOURS.filter((b) => ids.includes(b.id));
}

/** Runs `cases` in one child on `rt`; what each did, in order. */
async function runChild(
  rt: Runtime,
  cases: ChildCase[],
): Promise<{ outcomes: Outcome[]; leftovers: string[] }[]> {
  // Its own process group: a timeout also kills the processes a lock case started.
  const child = new Child([...rt.argv, CHILD, JSON.stringify(cases)], {}, true);
  try {
    const result = await child.message("result", 120_000);
    await child.finished();
    return result.cases as { outcomes: Outcome[]; leftovers: string[] }[];
  } finally {
    child.kill();
  }
}

/**
 * Mounts `fsys`, prepares every runtime's cases, makes it ready, then runs
 * each runtime's child in turn (one at a time: the ENOSPC case fills the
 * disk). Keyed by `runtime/behaviour`.
 */
async function stage(
  suite: Suite,
  fsys: FileSystem,
): Promise<Map<string, Staged>> {
  const mount: Mount = suite.adopt(
    await fsys.mount(suite, suite.mkdir("mnt", fsys.id)),
  );
  const staged = new Map<string, Staged>();
  const runtimes = suite.options.runtimes;
  for (const rt of runtimes) {
    for (const b of behavioursOf(fsys)) {
      const dir = path.join(mount.dir, rt.name, b.id);
      fs.mkdirSync(dir, { recursive: true });
      const entry: Staged = { dir };
      try {
        b.prepare(dir);
      } catch (error) {
        const e = error as { code?: string | undefined; message: string };
        entry.setupError = { code: e.code, message: e.message };
      }
      staged.set(`${rt.name}/${b.id}`, entry);
    }
  }
  const where = fsys.ready?.(suite, mount) ?? mount.dir;
  for (const rt of runtimes) {
    const mine = behavioursOf(fsys).flatMap((b) => {
      const entry = staged.get(`${rt.name}/${b.id}`)!;
      entry.dir = path.join(where, path.relative(mount.dir, entry.dir));
      if (entry.setupError) return [];
      entry.before = describe(entry.dir);
      return [{ b, entry }];
    });
    const { bavail, bsize } = fs.statfsSync(where);
    const results = await runChild(
      rt,
      mine.map(({ b, entry }) => ({
        behaviour: b.id,
        dir: entry.dir,
        size: bavail * bsize + OVER,
        runtime: rt.name,
      })),
    );
    mine.forEach(({ entry }, i) => Object.assign(entry, results[i]));
  }
  return staged;
}

/** What the calls did, counted: "1 ok, 7 EEXIST". */
function tally(outcomes: Outcome[]): string {
  const counts = new Map<string, number>();
  for (const o of outcomes) {
    const what = o.ok ? "ok" : o.aborted ? "aborted" : String(o.code);
    counts.set(what, (counts.get(what) ?? 0) + 1);
  }
  return [...counts].map(([what, n]) => `${n} ${what}`).join(", ");
}

function isUnsupported(e: unknown): e is Unsupported {
  return typeof e === "object" && e !== null && "unsupported" in e;
}

/**
 * Checks one case against what `fsys` expects; says what held. A case
 * marked as a known bug of the library fails either way: with the bug named
 * if it fails, or because the mark is stale if it works.
 */
function judge(fsys: FileSystem, b: Behaviour, s: Staged): string {
  const bug = fsys.bugs?.[b.id];
  let held: string;
  try {
    held = check(fsys, b, s);
  } catch (error) {
    if (error instanceof Skip || !bug) throw error;
    throw new Error(
      `KNOWN LIBRARY BUG (tests/fs/README.md): ${bug}: ${
        (error as Error).message
      }`,
    );
  }
  expect(
    !bug,
    `${held}, yet it is marked as the known bug "${bug}": remove the mark in tests/fs/_file_systems.ts`,
  );
  return held;
}

/** Checks one case against what `fsys` expects, without regard to a known bug. */
function check(fsys: FileSystem, b: Behaviour, s: Staged): string {
  const expected = fsys.expect?.[b.id];
  if (s.setupError) {
    if (isUnsupported(expected)) {
      throw new Skip(
        `n/a: ${expected.unsupported} (${
          s.setupError.code ?? s.setupError.message
        })`,
      );
    }
    throw new Error(`cannot set up the case: ${s.setupError.message}`);
  }
  if (isUnsupported(expected)) {
    throw new Error(
      `expected "${expected.unsupported}", yet the set-up worked`,
    );
  }
  const outcomes = s.outcomes!;
  const failed = outcomes.find((o) => !o.ok);
  const calls = `; the calls: ${tally(outcomes)}${
    failed
      ? `, first ${failed.code} from "${failed.operation}": ${
        failed.message?.replace(/\s+/g, " ").slice(0, 300)
      }`
      : ""
  }`;
  expect(
    s.leftovers!.length === 0,
    `files left when the calls settled: ${s.leftovers!.join(", ")}${calls}`,
  );
  const left = leftoversIn(s.dir);
  expect(left.length === 0, `files left: ${left.join(", ")}${calls}`);
  if (expected === undefined) {
    const measured = b.check(s.dir, outcomes, s.before!, {
      links: fsys.links ?? true,
    });
    return `works (${tally(outcomes)}), no temp${
      measured ? `; ${measured}` : ""
    }`;
  }
  for (const o of outcomes) {
    expect(
      !o.ok,
      `it worked, but ${fsys.id} should fail with ${expected.fails}`,
    );
    expect(
      o.code === expected.fails,
      `${o.code} from "${o.operation}", expected ${expected.fails}: ${o.message}`,
    );
    expect(
      !expected.operation || o.operation === expected.operation,
      `${o.code} from "${o.operation}", expected from "${expected.operation}"`,
    );
    expect(
      o.message?.includes(s.dir),
      `the message does not name the path: ${o.message}`,
    );
  }
  unchanged(s.dir, s.before!);
  return `${expected.fails}: from "${
    outcomes[0].operation
  }" (${expected.because}), target intact, no temp; "${outcomes[0].message}"`;
}

/** The family of one file system: one case per behaviour and runtime. */
function fileSystemFamily(fsys: FileSystem): Family {
  return {
    id: fsys.id,
    proves: fsys.what,
    problem: mountProblem,
    cases: (suite, rt) =>
      behavioursOf(fsys).map((b) => ({
        name: `${b.id} on ${fsys.id} ${rt.name}`,
        run: async () => {
          const staged = await suite.once(fsys.id, () => stage(suite, fsys));
          return judge(fsys, b, staged.get(`${rt.name}/${b.id}`)!);
        },
      })),
  };
}

/**
 * Prints the matrix, the writes then the updates and the lock: per file
 * system and behaviour, what held on every runtime.
 */
function printTable(suite: Suite): void {
  for (const table of ["write", "update"]) {
    const ids = BEHAVIOURS.filter((b) => b.table === table).map((b) => b.id);
    console.log(`\n| file system | ${ids.join(" | ")} |`);
    console.log(`| --- | ${ids.map(() => "---").join(" | ")} |`);
    for (const fsys of FILE_SYSTEMS) {
      const mine = suite.outcomes.filter((o) => o.family === fsys.id);
      if (mine.length === 0) continue;
      const cells = ids.map((id) => {
        const these = mine.filter((o) => o.name.startsWith(`${id} on `));
        if (these.length === 0) return "";
        const failed = these.filter((o) => o.status === "fail");
        if (failed.some((o) => o.detail.startsWith("KNOWN"))) {
          return "**FAIL: known bug**";
        }
        if (failed.length > 0) return "**FAIL**";
        if (these.every((o) => o.status === "skip")) return "skip";
        const words = new Set(
          these.map((o) => o.detail.split(/[:(]/)[0].trim()),
        );
        return [...words].join("/");
      });
      console.log(`| ${fsys.id} | ${cells.join(" | ")} |`);
    }
  }
}

if (import.meta.main) {
  const families = FILE_SYSTEMS.map(fileSystemFamily);
  process.exit(
    await runSuite(
      "matrix",
      families,
      process.argv.slice(2),
      "file-system matrix: @x/atomic",
      printTable,
    ),
  );
}
