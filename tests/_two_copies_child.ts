/**
 * A child for `two_copies_test.ts`: with the library loaded twice, leaves
 * writes, locks, a lock waiter and a temporary file in flight through both
 * copies in DIR, prints how many exit hooks the copies installed (as JSON),
 * and exits.
 */
import process from "node:process";
import * as first from "../mod.ts";
import { loadSecondCopy } from "./_second_copy.ts";

const dir = process.argv[2];

// Deno's hook is an `unload` listener; Node's and Bun's a process "exit" one
// (Node has no global `addEventListener`).
interface Listening {
  addEventListener?(type: string, ...rest: unknown[]): void;
  removeEventListener?(type: string, ...rest: unknown[]): void;
}
const events = globalThis as Listening;
const { addEventListener: add, removeEventListener: remove } = events;
let unloadListeners = 0;
if (add !== undefined && remove !== undefined) {
  events.addEventListener = (type, ...rest) => {
    if (type === "unload") unloadListeners++;
    add.call(globalThis, type, ...rest);
  };
  events.removeEventListener = (type, ...rest) => {
    if (type === "unload") unloadListeners--;
    remove.call(globalThis, type, ...rest);
  };
}
function exitHooks(): number {
  return unloadListeners + process.listenerCount("exit");
}

const second = await loadSecondCopy();
const before = exitHooks();
async function* endless(): AsyncGenerator<string> {
  yield "part";
  await new Promise(() => {});
}
for (const [copy, name] of [[first, "a"], [second, "b"]] as const) {
  copy.writeFileAtomic(`${dir}/${name}`, endless()).catch(() => {});
  await copy.lockFile(`${dir}/${name}.lock`);
  copy.makeTempFileSync({ dir });
}
second.lockFile(`${dir}/a.lock`).catch(() => {});
await new Promise((resolve) => setTimeout(resolve, 300));
console.log(JSON.stringify({ exitHooks: exitHooks() - before }));
process.exit(0);
