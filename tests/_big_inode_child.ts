/**
 * Run by `big_inode_test.ts` on Deno without `--allow-ffi`, where inode
 * numbers above 2^53 come rounded: `_big_inode_child.ts CASE DIR` runs one
 * case in DIR (which holds the directories `K` and `L1`, each with a file
 * `f`) and prints `ok` or the error's code.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { updateFileAtomic, writeFileAtomic } from "../mod.ts";

const [which, dir] = process.argv.slice(2);

const cases: Record<string, () => Promise<unknown>> = {
  // A plain write needs no identity to be told.
  write: () => writeFileAtomic(path.join(dir, "K", "f"), "new"),
  // fn points the link on the path elsewhere while the lock is held.
  swap: () => {
    const link = path.join(dir, "ln");
    fs.symlinkSync("K", link);
    return updateFileAtomic(path.join(link, "f"), () => {
      fs.unlinkSync(link);
      fs.symlinkSync("L1", link);
      return "new";
    });
  },
  // A relative path, in a current directory that cannot be told from others.
  relative: () => {
    process.chdir(path.join(dir, "L1"));
    return writeFileAtomic("g", "new");
  },
};

try {
  await cases[which]();
  console.log("ok");
} catch (error) {
  console.log((error as { code?: string }).code ?? String(error));
}
