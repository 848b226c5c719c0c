// Run by .ci/pack_test.sh in a fresh directory where the packed tarball was
// installed with npm: uses the JavaScript build the way a Node user would.
// Exits non-zero (an assertion) if anything does not behave.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  AtomicWriteError,
  AtomicWriter,
  openAtomic,
  writeFileAtomic,
  writeFileAtomicSync,
} from "@x/atomic";
import writeFileAtomicCompat from "@x/atomic/compat/write-file-atomic";
import * as atomically from "@x/atomic/compat/atomically";
import { Writer } from "@x/atomic/compat/steno";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atomic-pack-"));
try {
  const file = path.join(dir, "state.json");
  await writeFileAtomic(file, JSON.stringify({ n: 1 }));
  assert.equal(fs.readFileSync(file, "utf8"), '{"n":1}');
  writeFileAtomicSync(file, "é", { encoding: "latin1" });
  assert.deepEqual([...fs.readFileSync(file)], [0xe9]);
  await openAtomic(file, async (handle) => {
    await handle.write("a");
    await handle.write(new Uint8Array([0x62]));
  });
  assert.equal(fs.readFileSync(file, "utf8"), "ab");
  const writer = new AtomicWriter(file);
  await Promise.all([1, 2, 3].map((n) => writer.write(String(n))));
  assert.equal(fs.readFileSync(file, "utf8"), "3");
  await assert.rejects(
    writeFileAtomic(path.join(dir, "missing", "f"), "x"),
    (error) => error instanceof AtomicWriteError && error.code === "ENOENT",
  );
  assert.throws(() => writeFileAtomicSync(file, "x", { mdoe: 1 }), TypeError);

  await writeFileAtomicCompat(file, "wfa", { mode: 0o600 });
  writeFileAtomicCompat.sync(file, "wfa sync");
  assert.equal(fs.readFileSync(file, "utf8"), "wfa sync");
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);

  atomically.writeFileSync(path.join(dir, "deep", "conf.json"), "{}", {
    mode: 0o666,
  });
  assert.equal(
    await atomically.readFile(path.join(dir, "deep", "conf.json"), "utf8"),
    "{}",
  );
  assert.throws(
    () => atomically.writeFileSync(file, "x", { tmpCreate: (p) => p }),
    TypeError,
  );

  const steno = new Writer(path.join(dir, "db.json"));
  await Promise.all([1, 2, 3].map((n) => steno.write(String(n))));
  assert.equal(fs.readFileSync(path.join(dir, "db.json"), "utf8"), "3");

  assert.deepEqual(
    fs.readdirSync(dir).sort(),
    ["db.json", "deep", "state.json"],
  );
  console.log("consumer ok");
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
