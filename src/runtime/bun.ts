/**
 * The Bun adapter. Bun implements `node:fs` natively (in Zig, straight onto
 * system calls) and has no file API of its own for exclusive creation, fsync,
 * fchmod or hard links (`Bun.file`/`Bun.write` cover whole-file I/O only), so
 * it shares the descriptor-based operations with Node. ACLs, which no
 * runtime's API reaches, it reads and writes through `bun:ffi`.
 */
import type { RuntimeAdapter } from "./types.ts";
import { createNodeFsAdapter } from "./_node_fs.ts";
import { loadBunXattrs } from "./_libc_bun.ts";
import { readWholeInTwo } from "./_read_whole.ts";

/** The adapter used when running on Bun. */
export const bunAdapter: RuntimeAdapter<number> = createNodeFsAdapter(
  "bun",
  loadBunXattrs,
  // Not `fs.readFile`, one native job: its file's type must be seen
  // before it is read (a FIFO swapped in would block or read as empty).
  readWholeInTwo,
);
