/**
 * The process the torture driver (`run.ts`) starts on each runtime. It takes
 * one JSON argument (a {@linkcode Job}) and talks back in JSON lines on
 * stdout, written synchronously so that nothing is lost to a `kill -9`.
 *
 * With `ATOMIC_IMPL=naive` the writes and sweeps go through `_naive.ts`
 * instead of the library, to show that every case catches a naive writer.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import * as atomic from "../../mod.ts";
import { tempsIn } from "./_harness.ts";
import * as naive from "./_naive.ts";
import { checkPayload, logSize, makePayload, prng } from "./_payload.ts";

/** Which API writes. */
export type Api = "async" | "handle" | "sync";

/** What the driver asks a child to do. */
export type Job =
  /** Rewrite `target` forever; print `ready` first. */
  | {
    mode: "loop";
    target: string;
    api: Api;
    tag: string;
    seed: number;
    min: number;
    max: number;
  }
  /** After `go` on stdin, rewrite `target` for `ms` milliseconds, then report. */
  | {
    mode: "contend";
    target: string;
    api: Api;
    tag: string;
    seed: number;
    min: number;
    max: number;
    ms: number;
  }
  /** After `go` on stdin, read and check `target` until `stop` exists, then report. */
  | { mode: "read"; target: string; stop: string }
  /** Write one payload of `size` bytes and report the outcome. */
  | {
    mode: "once";
    target: string;
    api: Api;
    tag: string;
    size: number;
    overwrite?: boolean;
    /** Make temporary names predictable (`…-000000000000.atomic-tmp`) for `strace -P`. */
    fixedNames?: boolean;
  }
  /** Open `target` with the library, write, report the temporary file, wait to be killed. */
  | { mode: "hold"; target: string }
  /** Sweep `dir` and report what was removed. */
  | { mode: "sweep"; dir: string; api: Api; olderThan: number };

/**
 * Makes /proc links unreadable to the library, so that its temporary names
 * carry only the pid (as on a system without /proc): the shell that starts
 * strace must know the name before the runtime exists, and cannot know the
 * writer's thread start time or host hash.
 */
function hideWriterIdentity(): void {
  const refuse = (path: unknown) => {
    if (String(path).startsWith("/proc/")) {
      throw Object.assign(new Error("hidden for strace -P"), {
        code: "EACCES",
      });
    }
  };
  const nodeFs = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
  const readlink = nodeFs.readlinkSync;
  nodeFs.readlinkSync = (...args) => (refuse(args[0]), readlink(...args));
  const deno = (globalThis as { Deno?: Record<string, unknown> }).Deno;
  if (deno) {
    const readLink = deno.readLinkSync as (path: string) => string;
    deno.readLinkSync = (path: string) => (refuse(path), readLink(path));
  }
}

/** What the child needs of an implementation: the library's API, narrowed. */
interface Lib {
  writeFileAtomic(
    path: string,
    data: Uint8Array,
    options?: atomic.AtomicOptions,
  ): Promise<void>;
  writeFileAtomicSync(
    path: string,
    data: Uint8Array,
    options?: atomic.AtomicOptions,
  ): void;
  openAtomic(
    path: string,
    fn: (file: { write(chunk: Uint8Array): Promise<void> }) => Promise<void>,
    options?: atomic.AtomicOptions,
  ): Promise<unknown>;
  removeStaleTemps(
    dir: string | URL,
    options: { olderThan: number },
  ): Promise<string[]>;
  removeStaleTempsSync(dir: string, options: { olderThan: number }): string[];
}

const lib: Lib = process.env.ATOMIC_IMPL === "naive" ? naive : atomic;

function say(message: Record<string, unknown>): void {
  fs.writeSync(1, JSON.stringify(message) + "\n");
}

function errorFields(error: unknown): Record<string, unknown> {
  const e = error as {
    code?: unknown;
    committed?: unknown;
    operation?: unknown;
    message?: unknown;
  };
  return {
    code: typeof e?.code === "string" ? e.code : null,
    committed: e?.committed === true,
    operation: typeof e?.operation === "string" ? e.operation : null,
    message: String(e?.message ?? error),
  };
}

function waitForLine(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.once("data", () => {
      process.stdin.destroy(); // nothing more to read: let the process end
      resolve();
    });
  });
}

/** Writes `bytes` to `target` with `api`; the handle form writes in uneven chunks. */
async function write(
  api: Api,
  target: string,
  bytes: Uint8Array,
  options?: atomic.AtomicOptions,
): Promise<void> {
  if (api === "sync") return lib.writeFileAtomicSync(target, bytes, options);
  if (api === "async") return await lib.writeFileAtomic(target, bytes, options);
  await lib.openAtomic(target, async (file) => {
    const sizes = [16 * 1024, 80 * 1024, 1000];
    for (let offset = 0, i = 0; offset < bytes.length; i++) {
      const end = Math.min(bytes.length, offset + sizes[i % sizes.length]);
      await file.write(bytes.subarray(offset, end));
      offset = end;
    }
  }, options);
}

async function main(job: Job): Promise<void> {
  switch (job.mode) {
    case "loop": {
      const random = prng(job.seed);
      say({ type: "ready", pid: process.pid });
      for (let seq = 0;; seq++) {
        const size = logSize(random, job.min, job.max);
        await write(job.api, job.target, makePayload(job.tag, seq, size));
      }
    }
    case "contend": {
      const random = prng(job.seed);
      say({ type: "ready", pid: process.pid });
      await waitForLine();
      const end = Date.now() + job.ms;
      let writes = 0;
      const errors: Record<string, unknown>[] = [];
      for (let seq = 0; Date.now() < end; seq++) {
        const size = logSize(random, job.min, job.max);
        try {
          await write(job.api, job.target, makePayload(job.tag, seq, size));
          writes++;
        } catch (error) {
          errors.push(errorFields(error));
        }
      }
      say({
        type: "result",
        writes,
        errors: errors.length,
        firstErrors: errors.slice(0, 3),
      });
      return;
    }
    case "read": {
      say({ type: "ready", pid: process.pid });
      await waitForLine();
      let reads = 0;
      let missing = 0;
      const torn: string[] = [];
      let tornCount = 0;
      while (!fs.existsSync(job.stop)) {
        for (let i = 0; i < 20; i++) {
          let bytes: Uint8Array;
          try {
            bytes = fs.readFileSync(job.target);
          } catch (error) {
            if ((error as { code?: string }).code !== "ENOENT") throw error;
            missing++;
            continue;
          }
          reads++;
          const check = checkPayload(bytes);
          if (!check.ok) {
            tornCount++;
            if (torn.length < 3) torn.push(check.reason);
          }
        }
      }
      say({
        type: "result",
        reads,
        missing,
        torn: tornCount,
        tornReasons: torn,
      });
      return;
    }
    case "once": {
      if (job.fixedNames) {
        hideWriterIdentity();
        globalThis.crypto.getRandomValues =
          (<T extends ArrayBufferView | null>(array: T): T => {
            if (array) {
              new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
                .fill(0);
            }
            return array;
          }) as typeof crypto.getRandomValues;
      }
      const bytes = makePayload(job.tag, 1, job.size);
      const ids = {
        uid: process.getuid?.() ?? -1,
        gid: process.getgid?.() ?? -1,
        pid: process.pid,
      };
      const options = job.overwrite === false
        ? { overwrite: false }
        : undefined;
      // The temporary files beside the target once the write settled.
      const tempsBeside = () => tempsIn(path.dirname(job.target));
      const start = performance.now();
      try {
        await write(job.api, job.target, bytes, options);
        const ms = performance.now() - start;
        say({ type: "result", ok: true, ms, ...ids, temps: tempsBeside() });
      } catch (error) {
        const ms = performance.now() - start;
        say({
          type: "result",
          ok: false,
          ms,
          ...ids,
          temps: tempsBeside(),
          ...errorFields(error),
        });
      }
      return;
    }
    case "hold": {
      // Always the library: this stands for another process's write in progress.
      const file = await atomic.openAtomic(job.target);
      await file.write(new Uint8Array(100_000));
      const dir = path.dirname(job.target);
      const mine = fs.readdirSync(dir).filter((name) =>
        name.includes(`.${process.pid}-`)
      );
      say({
        type: "ready",
        pid: process.pid,
        temps: mine.map((name) => path.join(dir, name)),
      });
      setInterval(() => {}, 60_000);
      return;
    }
    case "sweep": {
      try {
        const removed = job.api === "sync"
          ? lib.removeStaleTempsSync(job.dir, { olderThan: job.olderThan })
          : job.api === "handle"
          // The URL form, for variety.
          ? await lib.removeStaleTemps(pathToFileURL(job.dir), {
            olderThan: job.olderThan,
          })
          : await lib.removeStaleTemps(job.dir, { olderThan: job.olderThan });
        say({ type: "result", ok: true, removed });
      } catch (error) {
        say({ type: "result", ok: false, ...errorFields(error) });
      }
      return;
    }
  }
}

const job = JSON.parse(process.argv[2]) as Job;
await main(job);
// Done: end now, even if a runtime keeps a handle (stdin, a timer) open.
if (job.mode !== "hold") process.exit(0);
