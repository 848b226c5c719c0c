/**
 * A child for the tests that run as another user (`tests/_as_nobody.ts`) or
 * with fewer permissions (Deno without `--allow-sys`):
 * - `sweep DIR`: prints, as JSON, the paths `removeStaleTemps(DIR)` removed
 *   (`olderThan: 0`), or the error's code;
 * - `update TARGET`: appends "x" to TARGET with `updateFileAtomic` (2 s
 *   timeout), and prints "ok", or the error's code and message;
 * - `swap TARGET LINK`: writes "new" to TARGET with `writeFileAtomic`
 *   while, just before its temporary file is created, TARGET's directory
 *   is moved to `<it>.moved` and a link to LINK put in its place; prints
 *   "ok", or the error's code and message.
 */
import fs from "node:fs";
import { basename, dirname } from "node:path";
import process from "node:process";
import { removeStaleTemps, updateFileAtomic, writeFileAtomic } from "../mod.ts";
import { faultAdapter, using } from "./_fixtures.ts";

const [mode, path, link] = process.argv.slice(2);

/** The real adapter, which swaps `dir` for a link to `to` just before the first temporary file's creation. */
function swapping(dir: string, to: string) {
  const adapter = faultAdapter([]);
  const create = adapter.async.createExclusive;
  let swapped = false;
  adapter.async.createExclusive = (file, mode) => {
    if (!swapped && basename(file).startsWith(".")) {
      swapped = true;
      fs.renameSync(dir, `${dir}.moved`);
      fs.symlinkSync(to, dir);
    }
    return create(file, mode);
  };
  return adapter;
}

try {
  if (mode === "sweep") {
    console.log(JSON.stringify(await removeStaleTemps(path, { olderThan: 0 })));
  } else if (mode === "update") {
    await updateFileAtomic(path, (old) => `${old ?? ""}x`, { timeout: 2000 });
    console.log("ok");
  } else if (mode === "swap") {
    await using(
      swapping(dirname(path), link),
      () => writeFileAtomic(path, "new"),
    );
    console.log("ok");
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} catch (error) {
  const e = error as { code?: string; message?: string };
  console.log(`${e.code ?? "?"} ${e.message ?? error}`);
}
