/**
 * The Node.js adapter: `node:fs` on file descriptors. Node has no xattr API
 * and no foreign-function interface: it cannot see ACLs (see the README).
 */
import type { RuntimeAdapter } from "./types.ts";
import { createNodeFsAdapter } from "./_node_fs.ts";

/** The adapter used when running on Node.js. */
export const nodeAdapter: RuntimeAdapter<number> = createNodeFsAdapter(
  "node",
  () => null,
);
