/**
 * Shared sticky directories (`/tmp`): the library does in user space what
 * the kernel guards with `fs.protected_symlinks` and `fs.protected_regular`,
 * so it never follows a link or keeps the owner of a file that another user
 * planted there. Run as root, against entries owned by `nobody`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import type { StickyProtections } from "../src/runtime/types.ts";
import { apis } from "./_apis.ts";
import {
  failsWith,
  faultAdapter,
  read,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";

const NOBODY = 65534;
const SYSCTLS = ["protected_symlinks", "protected_regular"];
const notRoot = process.platform !== "linux" || process.getuid?.() !== 0
  ? "needs root on Linux to plant entries owned by nobody"
  : false;

/**
 * Runs `fn` with both sysctls set to 1, restoring their old values however
 * `fn` ends. Other suites run at the same time: the window is kept short.
 */
async function withProtections<T>(fn: () => Promise<T>): Promise<T> {
  const files = SYSCTLS.map((name) => `/proc/sys/fs/${name}`);
  const saved = files.map((file) => fs.readFileSync(file, "latin1"));
  try {
    for (const file of files) fs.writeFileSync(file, "1");
    return await fn();
  } finally {
    files.forEach((file, i) => fs.writeFileSync(file, saved[i]));
  }
}

/** A 1777 directory in `dir`, like /tmp, owned by root. */
function stickyDir(dir: string): string {
  const shared = path.join(dir, "shared");
  fs.mkdirSync(shared);
  fs.chmodSync(shared, 0o1777);
  return shared;
}

/** A root-only file outside the shared directory, holding "secret". */
function secretFile(dir: string): string {
  const secret = path.join(dir, "secret");
  fs.writeFileSync(secret, "secret", { mode: 0o600 });
  return secret;
}

/** `nobody`'s link at `shared/name` to `to`. */
function plantLink(shared: string, name: string, to: string): string {
  const link = path.join(shared, name);
  fs.symlinkSync(to, link);
  fs.lchownSync(link, NOBODY, NOBODY);
  return link;
}

/** `nobody`'s world-writable file at `shared/name`. */
function plantFile(shared: string, name: string): string {
  const file = path.join(shared, name);
  fs.writeFileSync(file, "planted");
  fs.chownSync(file, NOBODY, NOBODY);
  fs.chmodSync(file, 0o666);
  return file;
}

async function refused(promise: Promise<unknown>, sysctl: string) {
  const error = await failsWith(promise, "EACCES");
  assert.match(error.message, /belongs to another user \(uid 65534\)/);
  assert.match(error.message, new RegExp(sysctl));
}

/** An adapter that reports the sysctls as `protections`, whatever they are. */
function reporting(protections: StickyProtections) {
  return faultAdapter([], { protections: () => protections });
}

for (const api of apis) {
  const { name, fails } = api;

  test(
    `${name} ${fails} with EACCES on a link another user planted in a sticky directory`,
    {
      skip: notRoot,
    },
    async () => {
      await withTempDir(async (dir) => {
        const secret = secretFile(dir);
        const link = plantLink(stickyDir(dir), "report.txt", secret);
        await withProtections(() =>
          refused(api.write(link, "root's data"), "fs.protected_symlinks")
        );
        assert.equal(read(secret), "secret");
        assert.equal(fs.statSync(secret).mode & 0o777, 0o600);
        assert.ok(fs.lstatSync(link).isSymbolicLink());
        assert.deepEqual(tempsIn(path.dirname(link)), []);
      });
    },
  );

  test(
    `${name} ${fails} with EACCES on a file another user made in a sticky directory`,
    {
      skip: notRoot,
    },
    async () => {
      await withTempDir(async (dir) => {
        const file = plantFile(stickyDir(dir), "report.txt");
        await withProtections(() =>
          refused(api.write(file, "root's data"), "fs.protected_regular")
        );
        assert.equal(read(file), "planted");
        assert.deepEqual(tempsIn(path.dirname(file)), []);
      });
    },
  );

  test(
    `${name} treats unreadable sysctls as on`,
    { skip: notRoot },
    async () => {
      await withTempDir(async (dir) => {
        const shared = stickyDir(dir);
        const secret = secretFile(dir);
        const link = plantLink(shared, "link", secret);
        const file = plantFile(shared, "file");
        await using(reporting({ symlinks: null, regular: null }), async () => {
          await refused(api.write(link, "x"), "fs.protected_symlinks");
          await refused(api.write(file, "x"), "fs.protected_regular");
        });
        assert.equal(read(secret), "secret");
        assert.equal(read(file), "planted");
      });
    },
  );

  test(
    `${name} follows and replaces as the kernel does when the sysctls are 0`,
    {
      skip: notRoot,
    },
    async () => {
      await withTempDir(async (dir) => {
        const shared = stickyDir(dir);
        const target = path.join(dir, "target");
        fs.writeFileSync(target, "old");
        const link = plantLink(shared, "link", target);
        const file = plantFile(shared, "file");
        await using(reporting({ symlinks: 0, regular: 0 }), async () => {
          await api.write(link, "via link");
          await api.write(file, "replaced");
        });
        assert.equal(read(target), "via link");
        assert.equal(read(file), "replaced");
        assert.equal(fs.statSync(file).uid, NOBODY);
      });
    },
  );

  test(
    `${name} follows its own link and the directory owner's in a sticky directory`,
    {
      skip: notRoot,
    },
    async () => {
      await withTempDir(async (dir) => {
        const shared = stickyDir(dir);
        fs.chownSync(shared, NOBODY, NOBODY); // nobody's sticky directory
        const target = path.join(dir, "target");
        fs.writeFileSync(target, "old");
        const own = path.join(shared, "own");
        fs.symlinkSync(target, own); // root's: the writer's
        const owners = plantLink(shared, "owners", target); // the directory owner's
        const file = plantFile(shared, "file"); // the directory owner's
        await withProtections(async () => {
          await api.write(own, "one");
          assert.equal(read(target), "one");
          await api.write(owners, "two");
          await api.write(file, "three");
        });
        assert.equal(read(target), "two");
        assert.equal(read(file), "three");
      });
    },
  );
}
