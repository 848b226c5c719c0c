/**
 * A child process for the lock tests, run on any runtime:
 * `_lock_child.ts MODE TARGET [ARGS…]`.
 * - `count TARGET N API`: increments the counter in TARGET N times with
 *   `updateFileAtomic` (API `async`), `updateFileAtomicSync` (`sync`) or
 *   both in turn (`mixed`); prints `ack V` for each value it committed.
 * - `hold TARGET [LEASE]`: takes TARGET's lock, prints `held`, waits to be killed.
 * - `exit TARGET`: takes TARGET's lock, then calls `process.exit(0)`.
 * - `exit-linking TARGET`: starts taking TARGET's lock with a runtime whose
 *   `link` is made at once but never reported (as one still in the thread
 *   pool when the process ends), then calls `process.exit(0)`.
 * - `stall-exit TARGET LEASE BLOCK HOW`: takes TARGET's lock with lease
 *   LEASE (`lockFile`, or `lockFileSync` where HOW is `end`), prints
 *   `held`, blocks the thread for BLOCK ms, then leaves the lock unreleased
 *   and ends: by `process.exit(0)` (HOW `exit`), an uncaught exception
 *   (`throw`), or by reaching the program's end (`end`).
 * - `exit-releasing TARGET`: takes TARGET's lock, starts its `release()`
 *   and calls `process.exit(0)` at once, the release under way.
 * - `exit-released-twice TARGET`: takes TARGET's lock, releases it, takes
 *   it again, calls the first lock's `release()` again, then prints whether
 *   `lockFileSync` now fails with `EDEADLK` and calls `process.exit(0)`.
 * - `exit-waiting TARGET QUEUE`: waits for TARGET's lock (held by someone
 *   else), and calls `process.exit(0)` once the queue directory QUEUE has
 *   an entry (its ticket: it lined up).
 * - `wait TARGET API GO`: takes TARGET's lock with `lockFile` (API `async`)
 *   or `lockFileSync` (`sync`), waiting as long as it takes; prints `got`,
 *   holds it until the file GO exists, releases it, prints `released`.
 * - `update TARGET API`: adds a line to TARGET with `updateFileAtomic`
 *   (API `async`) or `updateFileAtomicSync` (`sync`), waiting as long as it
 *   takes; prints `ok`, or the error's code, operation and message.
 * - `try TARGET API`: takes and releases TARGET's lock with `lockFile`
 *   (API `async`) or `lockFileSync` (`sync`), waiting 1 s at most; prints
 *   `ok` or the error code.
 * - `try-twice FIRST SECOND GO`: tries FIRST's lock once (`timeout: 0`),
 *   prints `"ok"` (taken, and released) or the error code, as a JSON
 *   string; waits for the file GO; then does the same with SECOND's lock.
 * - `race TARGET MARKER GO`: waits for the file GO, takes TARGET's lock,
 *   creates MARKER with O_EXCL for a moment (printing `overlap` if it
 *   exists: another holder is inside), releases; prints `done`.
 * - `stall TARGET LEASE BLOCK`: an update with lease LEASE whose function
 *   prints `in` then blocks the event loop for BLOCK ms; prints `committed`
 *   or the error code.
 * - `behind-self TARGET [TIMEOUT]`: takes TARGET's lock, then waits for it
 *   again with `signal: AbortSignal.timeout(50)` (and `timeout: TIMEOUT`
 *   ms, if given), in a function nobody awaits (as a request handler's):
 *   prints the wait's error name, then `released`.
 * - `peer TARGET N PEER`: increments the counter N times the way users of
 *   the npm peers do today: read the file, then write it back with PEER
 *   (`write-file-atomic`, `atomically` or `steno`); prints `ack V`, or
 *   `error CODE` for a write that failed or a file read torn.
 */
import fs from "node:fs";
import process from "node:process";
import {
  lockFile,
  lockFileSync,
  updateFileAtomic,
  updateFileAtomicSync,
} from "../mod.ts";
import { detectAdapter } from "../src/runtime/detect.ts";
import { useAdapter } from "../src/_context.ts";

const decoder = new TextDecoder();
const cell = new Int32Array(new SharedArrayBuffer(4));

/** The next counter value after `current` (an absent file counts as 0). */
export function increment(current: Uint8Array | null): string {
  const value = current === null ? 0 : JSON.parse(decoder.decode(current)).n;
  return JSON.stringify({ n: value + 1 });
}

/** The counter value in `text`. */
export function counterValue(text: string): number {
  return JSON.parse(text).n;
}

/** How the npm peer `peer` writes `target`. */
async function peerWriter(
  peer: string,
  target: string,
): Promise<(text: string) => Promise<void>> {
  if (peer === "steno") {
    const { Writer } = await import("steno");
    const steno = new Writer(target);
    return (text) => steno.write(text);
  }
  if (peer === "atomically") {
    const atomically = await import("atomically");
    return (text) => atomically.writeFile(target, text);
  }
  const { default: writeFileAtomic } = await import("write-file-atomic");
  return (text) => writeFileAtomic(target, text);
}

function say(line: string): void {
  fs.writeSync(1, line + "\n");
}

async function main(): Promise<void> {
  const [mode, target, ...args] = process.argv.slice(2);
  if (mode === "count") {
    const [n, api] = [Number(args[0]), args[1]];
    for (let i = 0; i < n; i++) {
      const sync = api === "sync" || (api === "mixed" && i % 2 === 1);
      const text = sync
        ? updateFileAtomicSync(target, increment)
        : await updateFileAtomic(target, increment);
      say(`ack ${counterValue(text)}`);
    }
    return;
  }
  if (mode === "hold") {
    await lockFile(target, args[0] ? { lease: Number(args[0]) } : undefined);
    say("held");
    setInterval(() => {}, 1000);
    return;
  }
  if (mode === "try") {
    try {
      const options = { timeout: 1000 };
      const lock = args[0] === "sync"
        ? lockFileSync(target, options)
        : await lockFile(target, options);
      await lock.release();
      say("ok");
    } catch (error) {
      say((error as { code?: string }).code ?? String(error));
    }
    return;
  }
  if (mode === "try-twice") {
    const [second, go] = args;
    const tryOnce = async (file: string) => {
      try {
        await (await lockFile(file, { timeout: 0 })).release();
        return "ok";
      } catch (error) {
        return (error as { code?: string }).code ?? String(error);
      }
    };
    say(JSON.stringify(await tryOnce(target)));
    while (!fs.existsSync(go)) Atomics.wait(cell, 0, 0, 5);
    say(JSON.stringify(await tryOnce(second)));
    return;
  }
  if (mode === "update") {
    const line = (current: Uint8Array | null) =>
      `${current ? decoder.decode(current) : ""}line\n`;
    try {
      if (args[0] === "sync") updateFileAtomicSync(target, line);
      else await updateFileAtomic(target, line);
      say("ok");
    } catch (error) {
      const { code, operation, message } = error as {
        code?: string;
        operation?: string;
        message?: string;
      };
      say(`${code} ${operation}: ${message}`);
    }
    return;
  }
  if (mode === "wait") {
    const [api, go] = args;
    const lock = api === "sync" ? lockFileSync(target) : await lockFile(target);
    say("got");
    while (!fs.existsSync(go)) Atomics.wait(cell, 0, 0, 5);
    await lock.release();
    say("released");
    return;
  }
  if (mode === "exit-waiting") {
    const [queue] = args;
    lockFile(target).catch(() => {});
    for (;;) {
      try {
        if (fs.readdirSync(queue).length > 0) process.exit(0);
      } catch { /* not made yet */ }
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  if (mode === "exit") {
    await lockFile(target);
    process.exit(0);
  }
  if (mode === "stall-exit") {
    const [lease, block, how] = [Number(args[0]), Number(args[1]), args[2]];
    if (how === "end") lockFileSync(target, { lease });
    else await lockFile(target, { lease });
    say("held");
    Atomics.wait(cell, 0, 0, block);
    if (how === "exit") process.exit(0);
    if (how === "throw") throw new Error("the program failed");
    return;
  }
  if (mode === "exit-releasing") {
    const lock = await lockFile(target);
    void lock.release();
    process.exit(0);
  }
  if (mode === "exit-linking") {
    const real = detectAdapter();
    const link = (from: string, to: string) => {
      real.sync.link(from, to);
      return new Promise<void>(() => {});
    };
    useAdapter({ ...real, async: { ...real.async, link } });
    void lockFile(target);
    setTimeout(() => process.exit(0), 200);
    return;
  }
  if (mode === "exit-released-twice") {
    const first = await lockFile(target);
    await first.release();
    await lockFile(target);
    await first.release();
    try {
      lockFileSync(target, { timeout: 0 });
      console.log("taken");
    } catch (error) {
      console.log((error as { code?: string }).code);
    }
    process.exit(0);
  }
  if (mode === "race") {
    const [marker, go] = args;
    while (!fs.existsSync(go)) Atomics.wait(cell, 0, 0, 1);
    const lock = await lockFile(target);
    try {
      fs.closeSync(fs.openSync(marker, "wx"));
    } catch {
      say("overlap");
    }
    Atomics.wait(cell, 0, 0, 2);
    fs.rmSync(marker, { force: true });
    await lock.release();
    say("done");
    return;
  }
  if (mode === "stall") {
    const [lease, block] = [Number(args[0]), Number(args[1])];
    try {
      await updateFileAtomic(target, (current) => {
        say("in");
        Atomics.wait(cell, 0, 0, block);
        return increment(current);
      }, { lease });
      say("committed");
    } catch (error) {
      say((error as { code?: string }).code ?? String(error));
    }
    return;
  }
  if (mode === "behind-self") {
    // Only the wait keeps the process alive (Node's and Bun's timeout
    // signal does not).
    void (async () => {
      const held = await lockFile(target);
      try {
        const timeout = args[0] === undefined ? {} : { timeout: +args[0] };
        await lockFile(target, { signal: AbortSignal.timeout(50), ...timeout });
        say("got it");
      } catch (error) {
        say((error as Error).name);
      } finally {
        await held.release();
        say("released");
      }
    })();
    return;
  }
  if (mode === "peer") {
    const [n, peer] = [Number(args[0]), args[1]];
    // Loaded here only: the other modes run without node_modules too.
    const write = await peerWriter(peer, target);
    for (let i = 0; i < n; i++) {
      try {
        let current: Uint8Array | null = null;
        try {
          current = await fs.promises.readFile(target);
        } catch { /* absent: 0 */ }
        const text = increment(current); // throws on a torn file
        await write(text);
        say(`ack ${counterValue(text)}`);
      } catch (error) {
        say(`error ${(error as { code?: string }).code ?? "torn read"}`);
      }
    }
    return;
  }
  throw new Error(`unknown mode ${mode}`);
}

if (import.meta.main ?? process.argv[1]?.endsWith("_lock_child.ts")) {
  await main();
}
