/**
 * Run by `deno_permissions_test.ts` under a reduced Deno permission set, and
 * by `node_permissions_test.ts` under Node's permission model:
 * `_permissions_child.ts DIR` runs each core behaviour in DIR and prints one
 * JSON object, `{ behaviour: "ok" | "<code>: <message>" }`. Every call a
 * behaviour makes has settled before the next one starts, so what one
 * leaves behind is its own.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import {
  AtomicWriter,
  lockFile,
  makeTempFile,
  openAtomic,
  removeStaleTemps,
  updateFileAtomic,
  updateFileAtomicSync,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../mod.ts";

const dir = process.argv[2];
const file = (name: string) => path.join(dir, name);
const increment = (current: Uint8Array | null): string =>
  String(Number(current === null ? 0 : new TextDecoder().decode(current)) + 1);

/** Throws unless `dir` holds no lock file and no temporary file (but the stale one the sweep is for). */
function nothingLeft(): void {
  const left = fs.readdirSync(dir).filter((name) =>
    (name.endsWith(".atomic-lock") || name.endsWith(".atomic-tmp")) &&
    !name.startsWith(".gone.txt.")
  );
  if (left.length > 0) throw new Error(`left behind: ${left.join(", ")}`);
}

/** Each behaviour throws if its outcome is wrong; a failure is reported, not hidden. */
const behaviours: Record<string, () => Promise<void> | void> = {
  "writeFileAtomic() creates a file": async () => {
    await writeFileAtomic(file("new"), "new");
    if (fs.readFileSync(file("new"), "utf8") !== "new") {
      throw new Error("wrong content");
    }
  },
  "writeFileAtomic() with fsync: false creates a file": async () => {
    await writeFileAtomic(file("unsynced"), "new", { fsync: false });
    if (fs.readFileSync(file("unsynced"), "utf8") !== "new") {
      throw new Error("wrong content");
    }
  },
  "writeFileAtomic() keeps a 0640 file's bits": async () => {
    await writeFileAtomic(file("0640"), "new");
    const mode = fs.statSync(file("0640")).mode & 0o777;
    if (mode !== 0o640) throw new Error(`mode ${mode.toString(8)}`);
  },
  "writeFileAtomic() follows a link": async () => {
    await writeFileAtomic(file("link"), "via link");
    if (fs.readFileSync(file("0640"), "utf8") !== "via link") {
      throw new Error("link not followed");
    }
  },
  "writeFileAtomicSync() replaces a file": () => {
    writeFileAtomicSync(file("new"), "sync");
    if (fs.readFileSync(file("new"), "utf8") !== "sync") {
      throw new Error("wrong content");
    }
  },
  "openAtomic() commits": async () => {
    await openAtomic(file("handle"), (f) => f.write("handle"));
    if (fs.readFileSync(file("handle"), "utf8") !== "handle") {
      throw new Error("wrong content");
    }
  },
  "AtomicWriter saves the last write": async () => {
    const writer = new AtomicWriter(file("writer"));
    await Promise.all([writer.write("1"), writer.write("2")]);
    if (fs.readFileSync(file("writer"), "utf8") !== "2") {
      throw new Error("wrong content");
    }
  },
  "updateFileAtomic() keeps 3 concurrent increments": async () => {
    const updates = await Promise.allSettled(
      [1, 2, 3].map(() => updateFileAtomic(file("n"), increment)),
    );
    for (const update of updates) {
      if (update.status === "rejected") throw update.reason;
    }
    if (fs.readFileSync(file("n"), "utf8") !== "3") {
      throw new Error(`counter ${fs.readFileSync(file("n"), "utf8")}`);
    }
    nothingLeft();
  },
  "updateFileAtomicSync() increments a counter": () => {
    updateFileAtomicSync(file("m"), increment);
    if (fs.readFileSync(file("m"), "utf8") !== "1") {
      throw new Error("wrong content");
    }
    nothingLeft();
  },
  "lockFile() locks and releases": async () => {
    const lock = await lockFile(file("locked"));
    if (lock.signal.aborted) throw new Error("the lock's signal aborted");
    await lock.release();
    nothingLeft();
  },
  "removeStaleTemps() removes a dead writer's old temporary file": async () => {
    const removed = await removeStaleTemps(dir);
    if (removed.length !== 1 || fs.existsSync(removed[0])) {
      throw new Error(`removed ${JSON.stringify(removed)}`);
    }
  },
  "removeStaleTemps() removes a dead holder's lock": async () => {
    const removed = await removeStaleTemps(file("locks"));
    if (removed.length !== 1 || fs.existsSync(removed[0])) {
      throw new Error(`removed ${JSON.stringify(removed)}`);
    }
  },
  "makeTempFile() makes and removes a file": async () => {
    const tmp = await makeTempFile({ dir });
    await tmp.remove();
  },
};

const report: Record<string, string> = {};
for (const [name, run] of Object.entries(behaviours)) {
  try {
    await run();
    report[name] = "ok";
  } catch (error) {
    const { code, message } = error as { code?: string; message?: string };
    report[name] = `${code ?? "no code"}: ${message}`;
  }
}
console.log(JSON.stringify(report));
