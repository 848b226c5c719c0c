/**
 * A second copy of the library in this process, as an application gets when
 * two of its dependencies bring their own copies (or it imports both the npm
 * build and the JSR source): `mod.ts` and `src/` copied to a temporary
 * directory and imported from there, a module instance of their own on
 * every runtime. (A query string on `mod.ts` would not do: the files it
 * imports would still be this copy's.)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { root } from "./_fixtures.ts";

/** What the tests use of a copy of the library. */
export type Library = typeof import("../mod.ts");

/** Imports a fresh copy of the library's source, then removes the copied files. */
export async function loadSecondCopy(): Promise<Library> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atomic-copy-"));
  try {
    fs.cpSync(path.join(root, "src"), path.join(dir, "src"), {
      recursive: true,
    });
    fs.copyFileSync(path.join(root, "mod.ts"), path.join(dir, "mod.ts"));
    fs.writeFileSync(path.join(dir, "package.json"), '{"type":"module"}');
    // Every module is loaded once its import resolves: no file is read later.
    return await import(pathToFileURL(path.join(dir, "mod.ts")).href);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
