/** Loaded dynamically: runtimes without `await using` reject it with a SyntaxError. */
import fs from "node:fs";
import path from "node:path";
import { openAtomic } from "../mod.ts";

/** Opens `target` in an `await using` scope, never commits; returns the dir listing seen inside. */
export async function disposeWithoutCommit(target: string): Promise<string[]> {
  let seen: string[];
  {
    await using file = await openAtomic(target);
    await file.write("never committed");
    seen = fs.readdirSync(path.dirname(target));
  }
  return seen;
}
