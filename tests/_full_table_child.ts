/**
 * Run by `errno_test.ts` on Deno: `_full_table_child.ts DIR` replaces a
 * file with `openAtomic` thirty times, each time with one descriptor left free (the
 * temporary file takes it, so the write and the chmod beside it find the
 * table full), and prints the outcomes: `"ok"` or the error's code.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { openAtomic } from "../mod.ts";
import { fillDescriptors, freeDescriptors } from "./_descriptors.ts";

const dir = process.argv[2];
// One write with descriptors to spare first: what the runtime sets up on
// a first write (Deno panics where its own set-up meets a full table) is
// then done, and the rounds see only the library's calls.
await openAtomic(path.join(dir, "warm-up"), (file) => file.write("x"));
fs.rmSync(path.join(dir, "warm-up"));
const outcomes: string[] = [];
for (let round = 0; round < 30; round++) {
  // An existing file: its bits are set beside the first write.
  const target = path.join(dir, `f${round}`);
  fs.writeFileSync(target, "old");
  const held = fillDescriptors(1);
  try {
    await openAtomic(target, (file) => file.write("new"));
    outcomes.push("ok");
  } catch (error) {
    outcomes.push((error as { code?: string }).code ?? String(error));
  }
  freeDescriptors(held);
}
console.log(JSON.stringify(outcomes));
