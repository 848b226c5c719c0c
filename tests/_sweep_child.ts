/**
 * A child for the tests that run as another user (`tests/_as_nobody.ts`) or
 * with fewer permissions (Deno without `--allow-sys`):
 * - `sweep DIR`: prints, as JSON, the paths `removeStaleTemps(DIR)` removed
 *   (`olderThan: 0`), or the error's code;
 * - `update TARGET`: appends "x" to TARGET with `updateFileAtomic` (2 s
 *   timeout), and prints "ok", or the error's code and message.
 */
import process from "node:process";
import { removeStaleTemps, updateFileAtomic } from "../mod.ts";

const [mode, path] = process.argv.slice(2);
try {
  if (mode === "sweep") {
    console.log(JSON.stringify(await removeStaleTemps(path, { olderThan: 0 })));
  } else if (mode === "update") {
    await updateFileAtomic(path, (old) => `${old ?? ""}x`, { timeout: 2000 });
    console.log("ok");
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} catch (error) {
  const e = error as { code?: string; message?: string };
  console.log(`${e.code ?? "?"} ${e.message ?? error}`);
}
