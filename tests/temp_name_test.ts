/** Temporary file names: hidden, recognisable, unique, never over 255 bytes. */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  basesOfTempName,
  TEMP_SUFFIX,
  tempName,
  tempNameOwner,
} from "../src/_temp_name.ts";

const byteLength = (text: string) => new TextEncoder().encode(text).length;

test("tempName() is hidden, names the target and ends with the fixed suffix", () => {
  const name = tempName("config.json", { pid: 1234 });
  assert.match(name, /^\.config\.json\.1234-[0-9a-f]{12}\.atomic-tmp$/);
  assert.ok(name.endsWith(TEMP_SUFFIX));
});

test("tempName() differs on every call", () => {
  const names = new Set(
    Array.from({ length: 1000 }, () => tempName("f", { pid: 1 })),
  );
  assert.equal(names.size, 1000);
});

/** The longest writer a name can carry: Linux's largest ids, a start time near 2^53 ticks. */
const bigWriter = {
  pid: 4194304,
  thread: 4194304,
  start: Number.MAX_SAFE_INTEGER,
  host: "0123456789ab",
};

test("tempName() stays within 255 bytes for a 255-byte target name", () => {
  assert.equal(byteLength(tempName("n".repeat(255), { pid: 4194304 })), 255);
  assert.equal(byteLength(tempName("n".repeat(255), bigWriter)), 255);
});

test("tempName() names the writer's process, thread, start time and host when known", () => {
  const writer = { pid: 42, thread: 57, start: 123456, host: "abcdef012345" };
  const name = tempName("a.txt", writer);
  assert.match(
    name,
    /^\.a\.txt\.42-57-2n9c-abcdef012345-[0-9a-f]{12}\.atomic-tmp$/,
  );
  assert.deepEqual(tempNameOwner(name), writer);
  assert.deepEqual(
    tempNameOwner(tempName("é".repeat(200), bigWriter)),
    bigWriter,
  );
});

test("tempName() never splits a multi-byte character when it shortens", () => {
  for (
    const base of [
      "é".repeat(127) + "x",
      "😀".repeat(63) + "abc",
      "日本".repeat(42),
    ]
  ) {
    const name = tempName(base, bigWriter);
    assert.ok(byteLength(name) <= 255, `${byteLength(name)} bytes`);
    assert.ok(!name.includes("\uFFFD"), "no replacement character");
  }
});

test("tempNameOwner() reads only the process id back from a name without a known writer", () => {
  assert.deepEqual(tempNameOwner(tempName("a.txt", { pid: 4242 })), {
    pid: 4242,
  });
});

test("tempNameOwner() returns null for names that are not ours", () => {
  for (
    const name of [
      "a.txt",
      ".a.txt.swp",
      ".a.txt.12-zzzzzzzzzzzz.atomic-tmp",
      "a.txt.12-0123456789ab.atomic-tmp",
      ".a.txt.12-0123456789ab.atomic-tmp.bak",
    ]
  ) {
    assert.equal(tempNameOwner(name), null, name);
  }
});

test("basesOfTempName() finds the file name a temporary name was made for among many, whole or cut", () => {
  const owner = { pid: 42 };
  const long = `${"x".repeat(250)}.atomic-lock`;
  const bases = new Set([".a.atomic-lock", ".b.atomic-lock", long]);
  assert.deepEqual(basesOfTempName(tempName(".a.atomic-lock", owner), bases), [
    ".a.atomic-lock",
  ]);
  assert.deepEqual(
    basesOfTempName(tempName(".c.atomic-lock", owner), bases),
    [],
  );
  // Cut to fit 255 bytes: it keeps the name's beginning only.
  assert.deepEqual(basesOfTempName(tempName(long, owner), bases), [long]);
  assert.deepEqual(basesOfTempName("not a temp name", bases), []);
});
