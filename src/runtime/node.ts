/**
 * The Node.js adapter: `node:fs` on file descriptors. Node has no xattr API
 * and no foreign-function interface: it cannot see ACLs (see the README).
 * Its `fs.readFile` takes four thread-pool round trips; the adapter reads in
 * two (`_read_whole.ts`).
 */
import type { RuntimeAdapter } from "./types.ts";
import { createNodeFsAdapter } from "./_node_fs.ts";
import { readWholeInTwo } from "./_read_whole.ts";

/** The adapter used when running on Node.js. */
export const nodeAdapter: RuntimeAdapter<number> = createNodeFsAdapter(
  "node",
  () => null,
  readWholeInTwo,
);
