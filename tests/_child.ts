/**
 * A child process for the process-level tests, run on the same runtime as
 * the test: `_child.ts MODE TARGET [API] [BITS]`.
 * - `loop`: rewrite TARGET forever with self-checking payloads (see `checkPayload`).
 * - `hold`: open TARGET, write, print the temporary file's name, wait for a signal.
 * - `exit`: open TARGET, write, then exit with code 3 without committing.
 * - `write`: write "written by child" to TARGET once (API `sync`: with
 *   writeFileAtomicSync; `handle`: in two writes to openAtomic's handle;
 *   `mkdir`: with writeFileAtomic and `mkdir: true`),
 *   with the `mode` option if a 4th argument gives it (octal); print the
 *   error code on failure.
 * - `errno`: as `write`, but print the error's code and errno on failure.
 * - `syscall`: as `write`, but print the error's code and syscall on failure.
 * - `operation`: as `write`, but print the error's code and operation on failure.
 * - `flush`: AtomicWriter's documented pattern (a write not awaited, then
 *   `flush()`; API `bad-data`: of data of the wrong type); print how
 *   flush() ended, wait a moment, print "alive".
 * - `queue`: write to TARGET from a source that stalls for a second, then
 *   100 writes of "data<n>" 2 ms apart (API `tick`: 40, all at once), which
 *   wait for it; print how many failed and what TARGET then holds, and
 *   (`tick`) how many more descriptors were open while they waited.
 * - `fail-stalled`: write to TARGET/missing/f, with a signal never aborted,
 *   from a source that never gives a chunk (API `stream`: a
 *   `ReadableStream`, which prints `cancelled` when cancelled; otherwise a
 *   generator); print how the write ended. The process must end by itself.
 * - `stall`: write to TARGET from a source that never ends (API `stream`:
 *   a `ReadableStream`; `callback`: an `openAtomic` callback that never
 *   returns), with `AbortSignal.timeout(100)`, which keeps nothing alive on
 *   Node and Bun; print how the write ended.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import {
  type AtomicFile,
  AtomicWriter,
  openAtomic,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../mod.ts";

/** "first", then a pause of `ms` (a second) before the end. */
async function* slowFirst(ms = 1000): AsyncGenerator<string> {
  yield "first";
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** The code an error carries, for a line of outcomes. */
function codeOf(error: unknown): string {
  return String((error as { code?: unknown }).code);
}

/** A payload of about `size` bytes that says how long it is and what it is made of. */
export function payload(n: number, size: number): string {
  const fill = String.fromCharCode(97 + n % 26);
  return `BEGIN ${n} ${size}\n${fill.repeat(size)}\nEND ${n}\n`;
}

/** Whether `text` is one complete payload. */
export function checkPayload(text: string): boolean {
  const match = /^BEGIN (\d+) (\d+)\n([a-z]*)\nEND (\d+)\n$/.exec(text);
  if (!match || match[1] !== match[4]) return false;
  const [, n, size, body] = match;
  return body.length === Number(size) &&
    body === String.fromCharCode(97 + Number(n) % 26).repeat(body.length);
}

/** Opens an atomic write of `target` with 100 kB written, not committed. */
export async function startWrite(target: string): Promise<AtomicFile> {
  const file = await openAtomic(target);
  await file.write("x".repeat(100_000));
  return file;
}

/** Our temporary files beside `target`, sorted. */
export function tempsBeside(target: string): string[] {
  return fs.readdirSync(path.dirname(target)).filter((f) =>
    f.endsWith(".atomic-tmp")
  ).sort();
}

async function main(): Promise<void> {
  const [mode, target, api = "async", bits] = process.argv.slice(2);
  if (mode === "loop") {
    for (let n = 0;; n++) {
      const data = payload(n, [1024, 65536, 1 << 20][n % 3] + n % 1000);
      if (api === "sync") writeFileAtomicSync(target, data);
      else if (api === "handle") {
        await openAtomic(target, async (file) => {
          for (let i = 0; i < data.length; i += 16384) {
            await file.write(data.slice(i, i + 16384));
          }
        });
      } else await writeFileAtomic(target, data);
      if (n === 0) console.log("ready");
    }
  }
  if (mode === "hold" || mode === "exit") {
    await startWrite(target);
    console.log(tempsBeside(target).join(","));
    if (mode === "exit") process.exit(3);
    setInterval(() => {}, 1000);
    return;
  }
  if (
    mode === "write" || mode === "errno" || mode === "syscall" ||
    mode === "operation"
  ) {
    const options = {
      ...(bits === undefined ? {} : { mode: parseInt(bits, 8) }),
      ...(api === "mkdir" ? { mkdir: true } : {}),
    };
    try {
      if (api === "sync") {
        writeFileAtomicSync(target, "written by child", options);
      } else if (api === "handle") {
        await openAtomic(target, async (file) => {
          await file.write("written ");
          await file.write("by child");
        }, options);
      } else await writeFileAtomic(target, "written by child", options);
      console.log("ok");
    } catch (error) {
      const { code, errno, syscall, operation } = error as {
        code?: string;
        errno?: number;
        syscall?: string;
        operation?: string;
      };
      console.log(
        mode === "errno"
          ? `${code} ${errno}`
          : mode === "syscall"
          ? `${code} ${syscall}`
          : mode === "operation"
          ? `${code} ${operation}`
          : code,
      );
      console.error((error as Error).message);
    }
    return;
  }
  if (mode === "flush") {
    const writer = new AtomicWriter(target);
    // API `bad-data`: data of the wrong type (`JSON.stringify(undefined)`).
    void writer.write(api === "bad-data" ? undefined as never : "[]");
    try {
      await writer.flush();
      console.log("flushed");
    } catch (error) {
      const { code, name } = error as { code?: string; name?: string };
      console.log(`flush rejected ${code ?? name}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    console.log("alive");
    return;
  }
  if (mode === "burst") {
    // A write that gives the file the bits `api` while it streams, then 9
    // more, past the writes that may wait with their files open.
    const first = writeFileAtomic(target, slowFirst(300), {
      mode: parseInt(api, 8),
    });
    const rest = Array.from(
      { length: 9 },
      (_, n) => writeFileAtomic(target, `v${n}`).then(() => "ok", codeOf),
    );
    const outcomes = [
      await first.then(() => "ok", codeOf),
      ...await Promise.all(rest),
    ];
    const mode = (fs.statSync(target).mode & 0o7777).toString(8);
    console.log(
      `${outcomes.join(" ")}, ${fs.readFileSync(target, "utf8")}, ${mode}`,
    );
    return;
  }
  if (mode === "queue") {
    const open = () => fs.readdirSync("/proc/self/fd").length;
    const before = open();
    const writes = [writeFileAtomic(target, slowFirst())];
    const [count, gap] = api === "tick" ? [40, 0] : [100, 2];
    for (let n = 0; n < count; n++) {
      if (gap > 0) await new Promise((resolve) => setTimeout(resolve, gap));
      writes.push(writeFileAtomic(target, `data${n}`));
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const extra = open() - before;
    const outcomes = await Promise.allSettled(writes);
    const failed = outcomes.filter((o) => o.status === "rejected").length;
    const last = api === "tick" ? "data39" : "data99";
    const holds = fs.readFileSync(target, "utf8");
    console.log(`${failed} failed, ${holds === last ? "the last" : holds}`);
    if (api === "tick") console.log(extra <= 12 ? "few open" : `${extra} open`);
    return;
  }
  if (mode === "stall") {
    const signal = AbortSignal.timeout(100);
    try {
      if (api === "callback") {
        await openAtomic(target, () => new Promise<void>(() => {}), { signal });
      } else {
        const never = new ReadableStream<Uint8Array>({
          start: (c) => c.enqueue(new Uint8Array([97])),
        });
        await writeFileAtomic(target, never, { signal });
      }
      console.log("resolved");
    } catch (error) {
      console.log(`rejected ${(error as Error).name}`);
    }
    return;
  }
  if (mode === "fail-stalled") {
    // A signal nobody aborts, and a source that never gives a chunk (API
    // `stream`: a ReadableStream, which says when it is cancelled; else a
    // generator), to a file whose directory is missing.
    const signal = new AbortController().signal;
    const never = api === "stream"
      ? new ReadableStream<Uint8Array>({
        cancel: () => console.log("cancelled"),
      })
      : (async function* () {
        await new Promise(() => {});
        yield "x";
      })();
    try {
      await writeFileAtomic(path.join(target, "missing", "f"), never, {
        signal,
      });
      console.log("resolved");
    } catch (error) {
      console.log(`rejected ${(error as { code?: string }).code}`);
    }
    return;
  }
  throw new Error(`unknown mode ${mode}`);
}

if (import.meta.main ?? path.basename(process.argv[1]) === "_child.ts") {
  await main();
}
