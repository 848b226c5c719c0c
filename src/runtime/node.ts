/** The Node.js adapter: `node:fs` on file descriptors. */
import type { RuntimeAdapter } from "./types.ts";
import { createNodeFsAdapter } from "./_node_fs.ts";

/** The adapter used when running on Node.js. */
export const nodeAdapter: RuntimeAdapter<number> = createNodeFsAdapter("node");
