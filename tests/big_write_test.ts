/**
 * A real write of more than 2 GiB from one buffer, on every runtime: Node and
 * Bun refuse such a buffer in one write call, so the library writes it in
 * calls of at most 1 GiB (the bound itself is pinned in replace_test.ts).
 * Likewise an update, and the atomically shim's read, read a file of more
 * than 2 GiB whole, which Node's `fs.readFile` refuses. Writes 2 GiB to disk
 * per case (reads 2 GiB into memory), so it runs only with
 * ATOMIC_BIG_WRITES=1 (`.ci/run` sets it).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { updateFileAtomic, updateFileAtomicSync } from "../mod.ts";
import {
  readFile as atomicallyReadFile,
  readFileSync as atomicallyReadFileSync,
} from "../src/compat/atomically.ts";
import { apis } from "./_apis.ts";
import { withTempDir } from "./_fixtures.ts";

const SIZE = 2 ** 31 + 3;
const skip = process.env.ATOMIC_BIG_WRITES === "1"
  ? false
  : "writes 2 GiB per case: set ATOMIC_BIG_WRITES=1 to run it";

for (const api of apis.filter((api) => api.name !== "openAtomic()")) {
  test(
    `${api.name} writes a single buffer of more than 2 GiB`,
    { skip, timeout: 600_000 },
    async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "big");
        const big = new Uint8Array(SIZE);
        big[0] = 1;
        big[SIZE - 1] = 2;
        await api.write(file, big, { fsync: false });
        assert.equal(fs.statSync(file).size, SIZE);
        const fd = fs.openSync(file, "r");
        try {
          const edge = new Uint8Array(1);
          fs.readSync(fd, edge, 0, 1, SIZE - 1);
          assert.equal(edge[0], 2);
        } finally {
          fs.closeSync(fd);
        }
      });
    },
  );
}

/** How each reader of a whole file reads `file`: an update's `fn` sees it, the atomically shim returns it. */
const readers: [string, (file: string) => Promise<Uint8Array | null>][] = [
  ["updateFileAtomic()", async (file) => {
    let seen: Uint8Array | null = null;
    await updateFileAtomic(file, (current) => {
      seen = current;
      return undefined; // leaves the file as it is
    });
    return seen;
  }],
  ["updateFileAtomicSync()", (file) => {
    let seen: Uint8Array | null = null;
    updateFileAtomicSync(file, (current) => {
      seen = current;
      return undefined;
    });
    return Promise.resolve(seen);
  }],
  ["atomically readFile()", (file) => atomicallyReadFile(file)],
  [
    "atomically readFileSync()",
    (file) => Promise.resolve(atomicallyReadFileSync(file)),
  ],
];

for (const [name, readWhole] of readers) {
  test(
    `${name} reads a file of more than 2 GiB whole`,
    { skip, timeout: 600_000 },
    async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "big");
        fs.writeFileSync(file, "<");
        fs.truncateSync(file, SIZE); // sparse: no disk used
        fs.appendFileSync(file, ">");
        const bytes = await readWhole(file);
        assert.equal(bytes?.length, SIZE + 1);
        assert.deepEqual([bytes![0], bytes![SIZE]], [60, 62]); // "<", ">"
        assert.equal(fs.statSync(file).size, SIZE + 1);
      });
    },
  );
}
