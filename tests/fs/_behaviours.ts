/**
 * The core behaviours of the unit suite, as the file-system matrix runs them
 * on each file system: the driver prepares each case's directory, a child
 * on each runtime `act`s (the only part that calls the library, and starts
 * the processes a lock case needs), and the driver checks what it left,
 * from outside. First the writes, then the updates and the lock.
 */
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { detectAdapter } from "../../src/runtime/detect.ts";
import {
  lockFile,
  lockFileSync,
  openAtomic,
  removeStaleTemps,
  updateFileAtomic,
  updateFileAtomicSync,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../../mod.ts";
import {
  type ChildRuntime,
  contention,
  startLockChild,
} from "../_lock_fixtures.ts";
import { tempsIn } from "../torture/_harness.ts";
import { abortingMidStream } from "../_streams.ts";

/** What one library call did, as the child reports it. */
export interface Outcome {
  ok: boolean;
  code?: string | null;
  operation?: string | null;
  message?: string;
  /** It rejected with the abort signal's own reason. */
  aborted?: boolean;
  /** How long it took, in ms (the update that takes over a dead holder's lock). */
  ms?: number;
  /** The lease of the lock it took over, in ms. */
  lease?: number;
  /** The lock files seen on disk around the call (see {@linkcode LockShapes}). */
  locks?: LockShapes;
  /** Counter values acknowledged by the contending processes. */
  acks?: number[] | undefined;
  /** The counter at the end of a contention. */
  final?: number | null | undefined;
  /** Names `removeStaleTemps` removed. */
  removed?: string[];
  /** Whether the child's runtime can see ACLs (Node cannot; see the README). */
  seesAcls?: boolean;
}

/**
 * How the lock files seen were made: `linked`, a holder's own temporary
 * file linked to the lock's name (its record names that file, and the name
 * exists); `created`, created under the lock's name with O_EXCL (no name in
 * the record: the protocol's path where `link` fails, FAT and exFAT).
 */
export interface LockShapes {
  linked: number;
  created: number;
}

/** What the file system under test is, as far as a check needs to know. */
export interface Where {
  /** Whether it has hard links (the lock links its holder's file to its name). */
  links: boolean;
}

/** One behaviour: how to set it up, what the child does, what must hold after. */
export interface Behaviour {
  id: string;
  /** The unit-suite behaviour it stands for. */
  what: string;
  /** Makes the files of the case in `dir` (before the file system is made read-only, bind-mounted, …). */
  prepare(dir: string): void;
  /**
   * In the child: the library calls; `size` is the driver's (for ENOSPC),
   * `runtime` the child's own (for the processes a lock case starts).
   */
  act(dir: string, size: number, runtime: ChildRuntime): Promise<Outcome[]>;
  /**
   * After a run that was expected to work: throws unless the behaviour
   * holds; may return what it measured. `before` is what `describe(dir)`
   * said before the child ran.
   */
  check(
    dir: string,
    outcomes: Outcome[],
    before: Snapshot,
    where: Where,
  ): string | void;
  /** The README's table it belongs to: the writes, or the updates and the lock. */
  table: "write" | "update";
}

/** Each name in a directory: its bytes' text, or the link it is. */
export type Snapshot = Record<string, string>;

/** The content written by the writes that should succeed. */
export const NEW = "new content\n";
const OLD = "old content\n";
/** Racers for the one create-if-absent slot. */
const RACERS = 8;

/** Throws with `message` unless `condition` holds. */
export function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** Every name in `dir` with its content (files) or `-> target` (links). */
export function describe(dir: string): Snapshot {
  const snapshot: Snapshot = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    const stat = fs.lstatSync(file);
    snapshot[name] = stat.isSymbolicLink()
      ? `-> ${fs.readlinkSync(file)}`
      : stat.isFile()
      ? fs.readFileSync(file, "latin1")
      : "(directory)";
  }
  return snapshot;
}

/** Throws unless `dir` is exactly as `before` said it was. */
export function unchanged(dir: string, before: Snapshot): void {
  expect(
    JSON.stringify(describe(dir)) === JSON.stringify(before),
    "the directory changed",
  );
}

/** The check of a case whose calls all work and leave the directory as it was. */
function leftAsItWas(dir: string, outcomes: Outcome[], before: Snapshot): void {
  succeeded(outcomes);
  unchanged(dir, before);
}

/** Makes the case's `target` with the old content. */
function oldTarget(dir: string): void {
  fs.writeFileSync(path.join(dir, "target"), OLD);
}

function read(file: string): string {
  return fs.readFileSync(file, "latin1");
}

/**
 * What a case may never leave: temporary files (a lock holder's own name is
 * one), lock files, reclaim mutexes and the waiters' queue directories.
 */
export function leftoversIn(dir: string): string[] {
  return [
    ...tempsIn(dir),
    ...fs.readdirSync(dir).filter((name) =>
      /\.atomic-(lock|reclaim|queue)$/.test(name)
    ),
  ].sort();
}

/** Runs one library call and reports it as an {@linkcode Outcome}. */
async function call(
  fn: () => unknown,
  reason?: unknown,
): Promise<Outcome> {
  try {
    await fn();
    return { ok: true };
  } catch (error) {
    const e = error as { code?: unknown; operation?: unknown };
    return {
      ok: false,
      code: typeof e?.code === "string" ? e.code : null,
      operation: typeof e?.operation === "string" ? e.operation : null,
      message: String((error as Error)?.message ?? error),
      aborted: reason !== undefined && error === reason,
    };
  }
}

/** `file`'s access ACL as getfacl shows it, one line per entry. */
function aclText(file: string): string {
  const shown = spawnSync("getfacl", [
    "--omit-header",
    "--absolute-names",
    file,
  ], {
    encoding: "utf8",
  });
  if (shown.status !== 0) throw new Error(`getfacl: ${shown.stderr}`);
  return shown.stdout.trim().split("\n").join(", ");
}

function only(outcomes: Outcome[]): Outcome {
  expect(outcomes.length === 1, `${outcomes.length} outcomes, expected 1`);
  return outcomes[0];
}

function succeeded(outcomes: Outcome[]): void {
  const failed = outcomes.find((o) => !o.ok);
  expect(
    !failed,
    `it failed: ${failed?.code} from "${failed?.operation}": ${failed?.message}`,
  );
}

/** A replacement by one API: the target ends up with the new content. */
function replaceBy(
  id: string,
  what: string,
  write: (target: string) => unknown,
): Behaviour {
  return {
    id,
    table: "write",
    what,
    prepare: oldTarget,
    act: async (dir) => [await call(() => write(path.join(dir, "target")))],
    check: (dir, outcomes) => {
      succeeded(outcomes);
      expect(read(path.join(dir, "target")) === NEW, "the target is not new");
    },
  };
}

/** 1 MiB in 64 chunks, each filled with its index. */
function chunks(): Uint8Array[] {
  return Array.from({ length: 64 }, (_, i) => new Uint8Array(16384).fill(i));
}

/** The writes, in the order the unit suite has them. */
const WRITES: Behaviour[] = [
  replaceBy(
    "replace",
    "writeFileAtomic() replaces an existing file",
    (target) => writeFileAtomic(target, NEW),
  ),
  replaceBy(
    "replace-sync",
    "writeFileAtomicSync() replaces an existing file",
    (target) => writeFileAtomicSync(target, NEW),
  ),
  replaceBy(
    "replace-handle",
    "openAtomic() replaces an existing file on commit",
    (target) => openAtomic(target, (file) => file.write(NEW)),
  ),
  {
    id: "create",
    table: "write",
    what: "writeFileAtomic() creates a missing file",
    prepare: () => {},
    act: async (dir) => [
      await call(() => writeFileAtomic(path.join(dir, "target"), NEW)),
    ],
    check: (dir, outcomes) => {
      succeeded(outcomes);
      expect(read(path.join(dir, "target")) === NEW, "the target is not new");
    },
  },
  {
    id: "case-order",
    table: "write",
    what:
      "writes to names apart only in case keep call order where they are one file, and do not wait for each other where they are two",
    prepare: () => {},
    act: async (dir) => {
      async function* slowly() {
        await new Promise((resolve) => setTimeout(resolve, 300));
        yield "first";
      }
      // ß has no one-letter upper case: exFAT keeps it, and JavaScript's
      // toUpperCase() makes it SS.
      const first = call(() =>
        writeFileAtomic(path.join(dir, "straße.json"), slowly())
      );
      const second = call(() =>
        writeFileAtomic(path.join(dir, "STRAßE.json"), "second")
      );
      return [await first, await second];
    },
    check: (dir, outcomes) => {
      succeeded(outcomes);
      const names = fs.readdirSync(dir).filter((name) =>
        name.toLowerCase() === "straße.json"
      );
      if (names.length === 1) {
        // One file (exFAT): the later call's data stays.
        expect(
          read(path.join(dir, names[0])) === "second",
          "the earlier call's data stayed",
        );
      } else {
        expect(
          read(path.join(dir, "straße.json")) === "first" &&
            read(path.join(dir, "STRAßE.json")) === "second",
          "two files, not each with its own data",
        );
      }
    },
  },
  {
    id: "exclusive-taken",
    table: "write",
    what: "overwrite: false rejects with EEXIST and keeps an existing file",
    prepare: oldTarget,
    act: async (dir) => [
      await call(() =>
        writeFileAtomic(path.join(dir, "target"), NEW, { overwrite: false })
      ),
    ],
    check: (dir, outcomes, before) => {
      const o = only(outcomes);
      expect(
        !o.ok && o.code === "EEXIST",
        o.ok ? "it replaced the file" : `${o.code}, not EEXIST: ${o.message}`,
      );
      unchanged(dir, before);
    },
  },
  {
    id: "exclusive-race",
    table: "write",
    what:
      `overwrite: false lets exactly one of ${RACERS} concurrent writers win`,
    prepare: () => {},
    act: (dir) =>
      Promise.all(
        Array.from({ length: RACERS }, (_, i) =>
          call(() =>
            writeFileAtomic(path.join(dir, "target"), `writer ${i}\n`, {
              overwrite: false,
            })
          )),
      ),
    check: (dir, outcomes) => {
      const winners = outcomes.flatMap((o, i) => o.ok ? [i] : []);
      expect(winners.length === 1, `${winners.length} writers won`);
      const others = outcomes.filter((o) => !o.ok && o.code !== "EEXIST");
      expect(
        others.length === 0,
        `a loser failed with ${others[0]?.code}: ${others[0]?.message}`,
      );
      expect(
        read(path.join(dir, "target")) === `writer ${winners[0]}\n`,
        "the target is not the winner's",
      );
    },
  },
  {
    id: "symlink",
    table: "write",
    what:
      "writeFileAtomic() through a symbolic link replaces the file it points to and keeps the link",
    prepare: (dir) => {
      fs.writeFileSync(path.join(dir, "real"), OLD);
      fs.symlinkSync("real", path.join(dir, "target"));
    },
    act: async (dir) => [
      await call(() => writeFileAtomic(path.join(dir, "target"), NEW)),
    ],
    check: (dir, outcomes) => {
      succeeded(outcomes);
      const link = path.join(dir, "target");
      expect(fs.lstatSync(link).isSymbolicLink(), "the link was replaced");
      expect(fs.readlinkSync(link) === "real", "the link points elsewhere");
      expect(read(path.join(dir, "real")) === NEW, "the file is not new");
    },
  },
  {
    id: "mode",
    table: "write",
    what: "writeFileAtomic() keeps the mode of the file it replaces",
    prepare: (dir) => {
      fs.writeFileSync(path.join(dir, "target"), OLD);
      fs.chmodSync(path.join(dir, "target"), 0o640);
      // The mode the file system really keeps (FAT keeps none): the one to keep.
      fs.writeFileSync(
        path.join(dir, "mode"),
        (fs.statSync(path.join(dir, "target")).mode & 0o7777).toString(8),
      );
    },
    act: async (dir) => [
      await call(() => writeFileAtomic(path.join(dir, "target"), NEW)),
    ],
    check: (dir, outcomes) => {
      succeeded(outcomes);
      const target = path.join(dir, "target");
      const mode = (fs.statSync(target).mode & 0o7777).toString(8);
      const was = read(path.join(dir, "mode"));
      expect(mode === was, `the mode is 0${mode}, was 0${was}`);
      expect(read(target) === NEW, "the target is not new");
    },
  },
  {
    id: "acl",
    table: "write",
    what:
      "writeFileAtomic() keeps the access ACL of the file it replaces (Bun, Deno; Node cannot see it)",
    prepare: (dir) => {
      const target = path.join(dir, "target");
      fs.writeFileSync(target, OLD);
      fs.chmodSync(target, 0o600);
      const set = spawnSync("setfacl", ["-m", "u:nobody:rw-", target], {
        encoding: "utf8",
      });
      if (set.status !== 0) {
        const error = new Error(`setfacl: ${set.error ?? set.stderr.trim()}`);
        throw Object.assign(error, { code: "EOPNOTSUPP" });
      }
      fs.writeFileSync(path.join(dir, "acl"), aclText(target));
    },
    act: async (dir) => {
      const target = path.join(dir, "target");
      const seesAcls = detectAdapter().sync.readAcl(target) !== undefined;
      return [{ ...await call(() => writeFileAtomic(target, NEW)), seesAcls }];
    },
    check: (dir, outcomes) => {
      succeeded(outcomes);
      const target = path.join(dir, "target");
      expect(read(target) === NEW, "the target is not new");
      const acl = aclText(target);
      if (!only(outcomes).seesAcls) {
        expect(!acl.includes("nobody"), `an ACL without the runtime: ${acl}`);
        return "ACL not kept: this runtime cannot see ACLs (README)";
      }
      const was = read(path.join(dir, "acl"));
      expect(acl === was, `the ACL is ${acl}, was ${was}`);
      return "ACL kept";
    },
  },
  {
    id: "abort",
    table: "write",
    what:
      "writeFileAtomic() rejects with the signal's reason when aborted mid-stream",
    prepare: oldTarget,
    act: async (dir) => {
      const controller = new AbortController();
      const reason = new Error("user cancelled");
      return [
        await call(
          () =>
            writeFileAtomic(
              path.join(dir, "target"),
              abortingMidStream(controller, reason),
              {
                signal: controller.signal,
              },
            ),
          reason,
        ),
      ];
    },
    check: (dir, outcomes, before) => {
      const o = only(outcomes);
      expect(
        o.aborted,
        o.ok ? "it succeeded" : `not the reason: ${o.code}: ${o.message}`,
      );
      unchanged(dir, before);
    },
  },
  {
    id: "stream",
    table: "write",
    what: "writeFileAtomic() writes a ReadableStream (1 MiB in 64 chunks)",
    prepare: oldTarget,
    act: async (dir) => {
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of chunks()) controller.enqueue(chunk);
          controller.close();
        },
      });
      return [
        await call(() => writeFileAtomic(path.join(dir, "target"), stream)),
      ];
    },
    check: (dir, outcomes) => {
      succeeded(outcomes);
      const bytes = fs.readFileSync(path.join(dir, "target"));
      const want = Buffer.concat(chunks());
      expect(bytes.equals(want), `${bytes.length} bytes, not the stream's`);
    },
  },
  {
    id: "enospc",
    table: "write",
    what: "writeFileAtomic() of more than the free space rejects with ENOSPC",
    prepare: oldTarget,
    act: async (dir, size) => [
      await call(() =>
        writeFileAtomic(path.join(dir, "target"), new Uint8Array(size).fill(1))
      ),
    ],
    check: () => {
      throw new Error("a write of more than the free space cannot work");
    },
  },
];

/** The lock file of each case's `target`. */
const LOCK = ".target.atomic-lock";
/** Increments per contending process. */
const INCREMENTS = 10;
/**
 * The runtime that contends with each runtime's own process: over the three
 * cases of a file system, every pair of runtimes shares one lock.
 */
const PARTNER: Record<ChildRuntime, ChildRuntime> = {
  deno: "bun",
  bun: "node",
  node: "deno",
};
/** A dead holder's lock must be taken over in less than this part of its lease. */
const PROMPT_PART_OF_LEASE = 1 / 4;
/**
 * The held lock's lease: its heartbeat (every `lease / 5`) runs 2 or 3
 * times while it is held for {@linkcode HELD_MS}, and a timer late by up to
 * 900 ms still finds the lease not run out.
 */
const HELD_LEASE_MS = 1500;
const HELD_MS = 800;
const decoder = new TextDecoder();

/** What an update makes of the current content: it adds one line, so the read is checked too. */
function addLine(current: Uint8Array | null): string {
  return (current === null ? "" : decoder.decode(current)) + NEW;
}

/**
 * How the lock file in `dir` was made, seen from outside (its record and
 * the name the record gives), or `null` if there is none (or it is being
 * written, or was released while looking).
 */
function lockShape(dir: string): keyof LockShapes | null {
  let record: { file?: unknown };
  try {
    record = JSON.parse(fs.readFileSync(path.join(dir, LOCK), "utf8"));
  } catch {
    return null;
  }
  if (typeof record.file !== "string") return "created";
  return fs.existsSync(path.join(dir, record.file)) ? "linked" : null;
}

/** Adds `shape` to `shapes`. */
function count(shapes: LockShapes, shape: keyof LockShapes | null): void {
  if (shape !== null) shapes[shape]++;
}

/** Throws unless a lock was seen, and every one was made the way this file system allows. */
function madeAsExpected(shapes: LockShapes | undefined, where: Where): string {
  expect(shapes, "no lock file was looked at");
  const [want, other] = where.links
    ? ["linked", "created"] as const
    : ["created", "linked"] as const;
  const seen = shapes[want] + shapes[other];
  expect(seen > 0, "no lock file seen");
  expect(
    shapes[other] === 0,
    `${
      shapes[other]
    } of ${seen} lock files seen were ${other}, expected ${want} here`,
  );
  return `the lock seen ${seen} ${seen === 1 ? "time" : "times"}, ${want}`;
}

/**
 * Takes and releases the lock of `target` once: whether a lock can be
 * taken here at all (a read-only file system cannot).
 */
function lockOnce(target: string): Promise<Outcome> {
  return call(async () => {
    const lock = await lockFile(target);
    await lock.release();
  });
}

/**
 * Starts a process on `runtime` that takes `target`'s lock, and kills it
 * with SIGKILL once it holds it; the lock it leaves, as seen from outside.
 */
async function killedHolder(
  target: string,
  runtime: ChildRuntime,
): Promise<LockShapes> {
  const holder = startLockChild(runtime, ["hold", target]);
  try {
    await holder.waitFor((line) => line === "held");
  } finally {
    holder.kill("SIGKILL");
  }
  await holder.ended;
  const shapes = { linked: 0, created: 0 };
  count(shapes, lockShape(path.dirname(target)));
  return shapes;
}

/**
 * In `dir`, takes and releases the lock once (else that failure is the
 * case's outcome), leaves the lock of a holder killed with SIGKILL, then
 * runs `next`; its outcome, with what the dead holder left.
 */
async function afterKilledHolder(
  dir: string,
  runtime: ChildRuntime,
  next: (target: string) => Promise<Outcome>,
): Promise<Outcome[]> {
  const target = path.join(dir, "target");
  const probe = await lockOnce(target);
  if (!probe.ok) return [probe];
  const locks = await killedHolder(target, runtime);
  return [{ ...await next(target), locks }];
}

/** The lease recorded in the lock file in `dir`. */
function leaseOf(dir: string): number {
  return JSON.parse(fs.readFileSync(path.join(dir, LOCK), "utf8")).lease;
}

/** An update by one API: the target ends up with a line more. */
function updateBy(
  id: string,
  what: string,
  exists: boolean,
  update: (target: string) => unknown,
): Behaviour {
  return {
    id,
    what,
    table: "update",
    prepare: (dir) => {
      if (exists) fs.writeFileSync(path.join(dir, "target"), OLD);
    },
    act: async (dir) => [await call(() => update(path.join(dir, "target")))],
    check: (dir, outcomes) => {
      succeeded(outcomes);
      const want = (exists ? OLD : "") + NEW;
      expect(read(path.join(dir, "target")) === want, "the target is not new");
    },
  };
}

/** The updates and the lock, in the order of the README's section. */
const UPDATES: Behaviour[] = [
  updateBy(
    "update",
    "updateFileAtomic() replaces an existing file with what fn made of it",
    true,
    (target) => updateFileAtomic(target, addLine),
  ),
  updateBy(
    "update-sync",
    "updateFileAtomicSync() replaces an existing file with what fn made of it",
    true,
    (target) => updateFileAtomicSync(target, addLine),
  ),
  updateBy(
    "update-create",
    "updateFileAtomic() creates a missing file (fn gets null)",
    false,
    (target) => updateFileAtomic(target, addLine),
  ),
  updateBy(
    "update-create-sync",
    "updateFileAtomicSync() creates a missing file (fn gets null)",
    false,
    (target) => updateFileAtomicSync(target, addLine),
  ),
  {
    id: "update-contention",
    what:
      `2 processes, one of this runtime (updateFileAtomic) and one of its partner's (both APIs in turn), increment one counter ${INCREMENTS} times each: none is lost`,
    table: "update",
    prepare: () => {},
    act: async (dir, _size, runtime) => {
      const target = path.join(dir, "target");
      const probe = await lockOnce(target);
      if (!probe.ok) return [probe];
      const locks = { linked: 0, created: 0 };
      let running = true;
      const watching = (async () => {
        while (running) {
          count(locks, lockShape(dir));
          await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      let outcome: Outcome;
      try {
        let result: Awaited<ReturnType<typeof contention>> | undefined;
        outcome = await call(async () => {
          result = await contention(target, [
            [runtime, "async"],
            [PARTNER[runtime], "mixed"],
          ], INCREMENTS);
        });
        outcome.acks = result?.acks;
        outcome.final = result?.final;
        if (!outcome.ok) {
          // A worker failed: its code, from the error it printed.
          outcome.operation = "worker";
          outcome.code = /failed \((E[A-Z]+)/.exec(outcome.message!)?.[1] ??
            null;
        }
      } finally {
        running = false;
        await watching;
      }
      return [{ ...outcome, locks }];
    },
    check: (_dir, outcomes, _before, where) => {
      succeeded(outcomes);
      const { acks, final, locks } = only(outcomes);
      const want = 2 * INCREMENTS;
      expect(final === want, `the counter is ${final}, expected ${want}`);
      const sorted = [...acks!].sort((a, b) => a - b);
      expect(
        sorted.length === want && sorted.every((v, i) => v === i + 1),
        `the values acknowledged are not 1 to ${want} once each: ${sorted}`,
      );
      return madeAsExpected(locks, where);
    },
  },
  {
    id: "lock-release",
    what:
      "lockFile() then release(), and lockFileSync() then releaseSync(), leave nothing behind",
    table: "update",
    prepare: oldTarget,
    act: async (dir) => {
      const target = path.join(dir, "target");
      return [
        await lockOnce(target),
        await call(() => lockFileSync(target).releaseSync()),
      ];
    },
    check: leftAsItWas,
  },
  {
    id: "lock-heartbeat",
    what:
      `lockFile() keeps a live holder's lock through its heartbeats (lease ${HELD_LEASE_MS} ms, held ${HELD_MS} ms): its signal does not abort`,
    table: "update",
    prepare: oldTarget,
    act: async (dir) => {
      let lost: unknown;
      const outcome = await call(async () => {
        const lock = await lockFile(path.join(dir, "target"), {
          lease: HELD_LEASE_MS,
        });
        await new Promise((resolve) => setTimeout(resolve, HELD_MS));
        lost = lock.signal.aborted ? lock.signal.reason : undefined;
        await lock.release();
      });
      if (outcome.ok && lost !== undefined) {
        const e = lost as { code?: string; message?: string };
        return [{
          ok: false,
          code: e.code ?? null,
          operation: "signal",
          message: `the lock's signal aborted: ${e.message}`,
        }];
      }
      return [outcome];
    },
    check: leftAsItWas,
  },
  {
    id: "lock-takeover",
    what:
      "updateFileAtomic() takes over at once the lock of a holder killed with SIGKILL",
    table: "update",
    prepare: oldTarget,
    act: (dir, _size, runtime) =>
      afterKilledHolder(dir, runtime, async (target) => {
        const lease = leaseOf(dir);
        const started = performance.now();
        const outcome = await call(() => updateFileAtomic(target, addLine));
        return { ...outcome, ms: performance.now() - started, lease };
      }),
    check: (dir, outcomes, _before, where) => {
      succeeded(outcomes);
      const { ms, locks, lease } = only(outcomes);
      const shapes = madeAsExpected(locks, where);
      expect(read(path.join(dir, "target")) === OLD + NEW, "not updated");
      expect(
        ms! < lease! * PROMPT_PART_OF_LEASE,
        `the takeover took ${ms!.toFixed(0)} ms, the lease is ${lease} ms`,
      );
      return `taken over in ${
        ms!.toFixed(0)
      } ms (lease ${lease} ms); ${shapes}`;
    },
  },
  {
    id: "lock-sweep",
    what:
      "removeStaleTemps() removes the lock (and its second name) of a holder killed with SIGKILL",
    table: "update",
    prepare: oldTarget,
    act: (dir, _size, runtime) =>
      afterKilledHolder(dir, runtime, async () => {
        let removed: string[] = [];
        const outcome = await call(async () => {
          removed = await removeStaleTemps(dir, { olderThan: 0 });
        });
        return { ...outcome, removed: removed.map((p) => path.basename(p)) };
      }),
    check: (dir, outcomes, before, where) => {
      succeeded(outcomes);
      const { locks, removed } = only(outcomes);
      const shapes = madeAsExpected(locks, where);
      expect(removed!.includes(LOCK), `${LOCK} not removed: ${removed}`);
      unchanged(dir, before);
      return `removed ${removed!.join(", ")}; ${shapes}`;
    },
  },
  {
    id: "update-enospc",
    what:
      "updateFileAtomic() and updateFileAtomicSync() of more than the free space reject with ENOSPC",
    table: "update",
    prepare: oldTarget,
    act: async (dir, size) => {
      const target = path.join(dir, "target");
      const big = () => new Uint8Array(size).fill(1);
      return [
        await call(() => updateFileAtomic(target, big)),
        await call(() => updateFileAtomicSync(target, big)),
      ];
    },
    check: () => {
      throw new Error("an update of more than the free space cannot work");
    },
  },
];

/** Every behaviour: the writes, then the updates and the lock. */
export const BEHAVIOURS: Behaviour[] = [...WRITES, ...UPDATES];
