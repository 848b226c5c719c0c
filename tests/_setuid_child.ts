/**
 * Run as root: writes `DIR/warm`, becomes `nobody` (`process.setgid()`,
 * `process.setuid()`), then writes `DIR/own` twice, the second time over
 * its own file. Prints "ok", or the failure's code and message.
 */
import process from "node:process";
import path from "node:path";
import { writeFileAtomic } from "../mod.ts";

const [dir] = process.argv.slice(2);
try {
  await writeFileAtomic(path.join(dir, "warm"), "as root");
  process.setgid!(65534);
  process.setuid!(65534);
  await writeFileAtomic(path.join(dir, "own"), "v1");
  await writeFileAtomic(path.join(dir, "own"), "v2");
  console.log("ok");
} catch (error) {
  const { code, message } = error as { code?: string; message?: string };
  console.log(`${code} ${message}`);
}
