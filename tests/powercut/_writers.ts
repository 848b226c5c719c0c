/**
 * Every way of committing a file that the power-cut suite cuts: the
 * library's APIs, and the controls that show the suite can fail. One row
 * per writer; adding an API is one row.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  AtomicWriter,
  openAtomic,
  updateFileAtomic,
  updateFileAtomicSync,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../../mod.ts";

/** Writes one whole version of the file; resolves once it says it is done. */
export type Commit = (target: string, bytes: Uint8Array) => Promise<void>;

/** A way of replacing a file, as the writer child uses it. */
export interface Writer {
  /** The name used on the command line and in the report. */
  name: string;
  /** `true` for the library (must show no violation); `false` for a control. */
  library: boolean;
  /** Makes the commit function (imports a peer, opens a long-lived writer). */
  open(target: string): Commit | Promise<Commit>;
}

const CHUNK = 64 * 1024;
const cli = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  "../../cli.ts",
);

/** Writes `bytes` in 64 KiB pieces through `write`, as a streaming caller does. */
async function inChunks(
  bytes: Uint8Array,
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < bytes.length; i += CHUNK) {
    await write(bytes.subarray(i, i + CHUNK));
  }
}

/** Runs the CLI on this runtime with `bytes` on its stdin; resolves when it exits 0. */
function runCli(target: string, bytes: Uint8Array): Promise<void> {
  const deno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  const argv = deno ? ["run", "-A", cli, target] : [cli, target];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, {
      stdio: ["pipe", "ignore", "inherit"],
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else reject(new Error(`the CLI exited with ${code}`));
    });
    child.stdin.end(bytes);
  });
}

/** The writers, library first, then the controls. */
export const writers: Writer[] = [
  {
    name: "writeFileAtomic",
    library: true,
    open: () => (target, bytes) => writeFileAtomic(target, bytes),
  },
  {
    name: "writeFileAtomicSync",
    library: true,
    open: () => (target, bytes) =>
      Promise.resolve(writeFileAtomicSync(target, bytes)),
  },
  {
    name: "openAtomic-handle",
    library: true,
    open: () => async (target, bytes) => {
      const file = await openAtomic(target);
      try {
        await inChunks(bytes, (chunk) => file.write(chunk));
        await file.commit();
      } finally {
        await file.abort();
      }
    },
  },
  {
    name: "openAtomic-scope",
    library: true,
    open: () => (target, bytes) =>
      openAtomic(target, (file) => inChunks(bytes, (c) => file.write(c))),
  },
  {
    name: "AtomicWriter",
    library: true,
    open: (target) => {
      const writer = new AtomicWriter(target);
      return (_target, bytes) => writer.write(bytes);
    },
  },
  {
    name: "updateFileAtomic",
    library: true,
    open: () => (target, bytes) =>
      updateFileAtomic(target, () => bytes).then(() => {}),
  },
  {
    name: "updateFileAtomicSync",
    library: true,
    open: () => (target, bytes) =>
      Promise.resolve(void updateFileAtomicSync(target, () => bytes)),
  },
  { name: "cli", library: true, open: () => runCli },
  {
    name: "fs.writeFile",
    library: false,
    open: () => (target, bytes) => fs.promises.writeFile(target, bytes),
  },
  {
    name: "write-file-atomic",
    library: false,
    open: async () => {
      const { default: write } = await import("write-file-atomic");
      return (target, bytes) => write(target, bytes);
    },
  },
  {
    name: "atomically",
    library: false,
    open: async () => {
      const { writeFile } = await import("atomically");
      return (target, bytes) => writeFile(target, bytes);
    },
  },
  {
    name: "steno",
    library: false,
    open: async (target) => {
      const { Writer } = await import("steno");
      const writer = new Writer(target);
      return (_target, bytes) => writer.write(new TextDecoder().decode(bytes));
    },
  },
  {
    name: "fsync-false",
    library: false,
    open: () => (target, bytes) =>
      writeFileAtomic(target, bytes, { fsync: false }),
  },
];
