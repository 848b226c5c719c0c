/**
 * The naive implementation the torture suite must catch (`ATOMIC_IMPL=naive`):
 * the same API surface as `mod.ts`, done with plain `fs.writeFile` and
 * friends, plus a sweep that trusts file names and ages alone.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { AtomicOptions } from "../../mod.ts";

interface NaiveFile {
  write(chunk: Uint8Array): Promise<void>;
}

function flag(options?: AtomicOptions): string {
  return options?.overwrite === false ? "wx" : "w";
}

/** `fs.promises.writeFile` (truncates the target, then writes it in place). */
export async function writeFileAtomic(
  target: string,
  data: string | Uint8Array,
  options?: AtomicOptions,
): Promise<void> {
  await fs.promises.writeFile(target, data, { flag: flag(options) });
}

/** `fs.writeFileSync`. */
export function writeFileAtomicSync(
  target: string,
  data: string | Uint8Array,
  options?: AtomicOptions,
): void {
  fs.writeFileSync(target, data, { flag: flag(options) });
}

/** Opens the target itself for writing and hands out its writes. */
export async function openAtomic(
  target: string,
  fn: (file: NaiveFile) => Promise<void>,
  options?: AtomicOptions,
): Promise<void> {
  const handle = await fs.promises.open(target, flag(options));
  try {
    await fn({ write: async (chunk) => void await handle.write(chunk) });
  } finally {
    await handle.close();
  }
}

function staleNames(dir: string, olderThan: number): string[] {
  const now = Date.now();
  return fs.readdirSync(dir)
    .filter((name) => name.endsWith(".atomic-tmp"))
    .map((name) => path.join(dir, name))
    .filter((file) => {
      const stat = fs.lstatSync(file);
      return stat.isFile() && now - stat.mtimeMs >= olderThan;
    })
    .sort();
}

/** Removes every `*.atomic-tmp` file old enough, whoever is writing it. */
export function removeStaleTempsSync(
  dir: string | URL,
  options: { olderThan?: number } = {},
): string[] {
  const removed = staleNames(
    dir instanceof URL ? fileURLToPath(dir) : dir,
    options.olderThan ?? 3_600_000,
  );
  for (const file of removed) fs.unlinkSync(file);
  return removed;
}

/** The asynchronous form of {@linkcode removeStaleTempsSync}. */
export function removeStaleTemps(
  dir: string | URL,
  options: { olderThan?: number } = {},
): Promise<string[]> {
  return Promise.resolve(removeStaleTempsSync(dir, options));
}
