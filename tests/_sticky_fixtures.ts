/**
 * Shared sticky directories for tests: a `/tmp`-like directory, entries
 * planted in it by `nobody`, and the kernel's protections switched on for
 * the length of one test.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { failsWith } from "./_fixtures.ts";

/** The uid (and gid) of `nobody`. */
export const NOBODY = 65534;
const SYSCTLS = ["protected_symlinks", "protected_regular"];
/** Why a test that plants `nobody`'s entries cannot run here, or `false`. */
export const notRoot = process.platform !== "linux" || process.getuid?.() !== 0
  ? "needs root on Linux to plant entries owned by nobody"
  : false;

/**
 * Runs `fn` with both sysctls set to 1, restoring their old values however
 * `fn` ends. Other suites run at the same time: the window is kept short.
 */
export async function withProtections<T>(fn: () => Promise<T>): Promise<T> {
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
export function stickyDir(dir: string): string {
  const shared = path.join(dir, "shared");
  fs.mkdirSync(shared);
  fs.chmodSync(shared, 0o1777);
  return shared;
}

/** A root-only file outside the shared directory, holding "secret". */
export function secretFile(dir: string): string {
  const secret = path.join(dir, "secret");
  fs.writeFileSync(secret, "secret", { mode: 0o600 });
  return secret;
}

/** `nobody`'s link at `shared/name` to `to`. */
export function plantLink(shared: string, name: string, to: string): string {
  const link = path.join(shared, name);
  fs.symlinkSync(to, link);
  fs.lchownSync(link, NOBODY, NOBODY);
  return link;
}

/** Asserts that `promise` fails with the kernel's refusal in a sticky directory (`shared` as it is), by `sysctl`. */
export async function refused(
  promise: Promise<unknown>,
  sysctl: string,
  shared: "world-writable" | "group-writable" = "world-writable",
): Promise<void> {
  const error = await failsWith(promise, "EACCES");
  assert.match(error.message, /belongs to another user \(uid 65534\)/);
  assert.match(error.message, new RegExp(`in a sticky ${shared} directory`));
  assert.match(error.message, new RegExp(sysctl));
}

/** `nobody`'s link `report.txt` in a fresh sticky directory in `dir`, to a root-only secret there. */
export function plantedSecretLink(
  dir: string,
): { link: string; secret: string } {
  const secret = secretFile(dir);
  return { link: plantLink(stickyDir(dir), "report.txt", secret), secret };
}

/** Asserts that `attempt`, run with the protections on, is refused as the kernel refuses a planted link. */
export function refusesPlantedLink(
  attempt: () => Promise<unknown>,
): Promise<void> {
  return withProtections(() => refused(attempt(), "fs.protected_symlinks"));
}
