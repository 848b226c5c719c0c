// Run by .ci/pack_test.sh beside consumer.mjs: a CommonJS user of
// write-file-atomic switches by changing the name in require() (the
// package's README usage); require() of the ES module gives the function
// through its "module.exports" export (Node 22 and later, Bun).
// Exits non-zero (an assertion) if anything does not behave.
"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const writeFileAtomic = require("@x/atomic/compat/write-file-atomic");

assert.equal(typeof writeFileAtomic, "function");
assert.equal(typeof writeFileAtomic.sync, "function");
// The named exports too, as TypeScript's CommonJS output reads them
// (`import { writeFileSync } from …` becomes `require(…).writeFileSync`).
assert.equal(writeFileAtomic.writeFileSync, writeFileAtomic.sync);
assert.equal(writeFileAtomic.writeFile, writeFileAtomic);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atomic-pack-cjs-"));
const file = path.join(dir, "message.txt");
writeFileAtomic(file, "Hello", { mode: 0o600 }, (error) => {
  try {
    assert.ifError(error);
    assert.equal(fs.readFileSync(file, "utf8"), "Hello");
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    writeFileAtomic.sync(file, "Hello again");
    assert.equal(fs.readFileSync(file, "utf8"), "Hello again");
    assert.deepEqual(fs.readdirSync(dir), ["message.txt"]);
    console.log("commonjs consumer ok");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
