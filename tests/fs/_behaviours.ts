/**
 * The core behaviours of the unit suite, as the file-system matrix runs them
 * on each file system: the driver prepares each case's directory, a child
 * on each runtime `act`s (the only part that calls the library), and the
 * driver checks what it left, from outside.
 */
import fs from "node:fs";
import path from "node:path";
import { openAtomic, writeFileAtomic, writeFileAtomicSync } from "../../mod.ts";
import { abortingMidStream } from "../_streams.ts";

/** What one library call did, as the child reports it. */
export interface Outcome {
  ok: boolean;
  code?: string | null;
  operation?: string | null;
  message?: string;
  /** It rejected with the abort signal's own reason. */
  aborted?: boolean;
}

/** One behaviour: how to set it up, what the child does, what must hold after. */
export interface Behaviour {
  id: string;
  /** The unit-suite behaviour it stands for. */
  what: string;
  /** Makes the files of the case in `dir` (before the file system is made read-only, bind-mounted, …). */
  prepare(dir: string): void;
  /** In the child: the library calls; `size` is the driver's (for ENOSPC). */
  act(dir: string, size: number): Promise<Outcome[]>;
  /**
   * After a run that was expected to work: throws unless the behaviour
   * holds. `before` is what `describe(dir)` said before the child ran.
   */
  check(dir: string, outcomes: Outcome[], before: Snapshot): void;
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

function read(file: string): string {
  return fs.readFileSync(file, "latin1");
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
    what,
    prepare: (dir) => fs.writeFileSync(path.join(dir, "target"), OLD),
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

/** Every behaviour, in the order the unit suite has them. */
export const BEHAVIOURS: Behaviour[] = [
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
    id: "exclusive-taken",
    what: "overwrite: false rejects with EEXIST and keeps an existing file",
    prepare: (dir) => fs.writeFileSync(path.join(dir, "target"), OLD),
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
      expect(
        JSON.stringify(describe(dir)) === JSON.stringify(before),
        "the directory changed",
      );
    },
  },
  {
    id: "exclusive-race",
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
    id: "abort",
    what:
      "writeFileAtomic() rejects with the signal's reason when aborted mid-stream",
    prepare: (dir) => fs.writeFileSync(path.join(dir, "target"), OLD),
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
      expect(
        JSON.stringify(describe(dir)) === JSON.stringify(before),
        "the directory changed",
      );
    },
  },
  {
    id: "stream",
    what: "writeFileAtomic() writes a ReadableStream (1 MiB in 64 chunks)",
    prepare: (dir) => fs.writeFileSync(path.join(dir, "target"), OLD),
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
    what: "writeFileAtomic() of more than the free space rejects with ENOSPC",
    prepare: (dir) => fs.writeFileSync(path.join(dir, "target"), OLD),
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
