/** Temporary file names: hidden, recognisable, unique, never over 255 bytes. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { TEMP_SUFFIX, tempName, tempNameOwner } from "../src/_temp_name.ts";

const byteLength = (text: string) => new TextEncoder().encode(text).length;

test("tempName() is hidden, names the target and ends with the fixed suffix", () => {
  const name = tempName("config.json", 1234);
  assert.match(name, /^\.config\.json\.1234-[0-9a-f]{12}\.atomic-tmp$/);
  assert.ok(name.endsWith(TEMP_SUFFIX));
});

test("tempName() differs on every call", () => {
  const names = new Set(Array.from({ length: 1000 }, () => tempName("f", 1)));
  assert.equal(names.size, 1000);
});

test("tempName() stays within 255 bytes for a 255-byte target name", () => {
  const name = tempName("n".repeat(255), 4194304);
  assert.equal(byteLength(name), 255);
});

test("tempName() never splits a multi-byte character when it shortens", () => {
  for (
    const base of [
      "é".repeat(127) + "x",
      "😀".repeat(63) + "abc",
      "日本".repeat(42),
    ]
  ) {
    const name = tempName(base, 99);
    assert.ok(byteLength(name) <= 255, `${byteLength(name)} bytes`);
    assert.ok(!name.includes("\uFFFD"), "no replacement character");
  }
});

test("tempNameOwner() reads the process id back from a temporary name", () => {
  assert.equal(tempNameOwner(tempName("a.txt", 4242)), 4242);
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
