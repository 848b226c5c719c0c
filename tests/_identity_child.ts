/**
 * Run by `writer_identity_test.ts` under a small descriptor limit:
 * `_identity_child.ts DIR` fills the descriptor table, makes a write and a
 * lock fail with `EMFILE` (the first reads of who this process is among
 * them), frees the descriptors, then takes a lock and opens a write, and
 * prints what they show of this process: `{ record, temps }`, the lock's
 * record as written and the names of the temporary files in DIR.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { lockFile, openAtomic, writeFileAtomic } from "../mod.ts";
import { fillDescriptors, freeDescriptors } from "./_descriptors.ts";

const dir = process.argv[2];
const held = fillDescriptors();
const failures = await Promise.allSettled([
  writeFileAtomic(path.join(dir, "first"), "x"),
  lockFile(path.join(dir, "first")),
]);
freeDescriptors(held);
if (failures.some((failure) => failure.status === "fulfilled")) {
  throw new Error("a call did not fail with the descriptor table full");
}
const lock = await lockFile(path.join(dir, "locked"));
const record = JSON.parse(fs.readFileSync(lock.lockPath, "utf8"));
await openAtomic(path.join(dir, "written"), async (file) => {
  await file.write("partial");
  const temps = fs.readdirSync(dir).filter((name) =>
    name.startsWith(".written.")
  );
  console.log(JSON.stringify({ record, temps }));
});
await lock.release();
