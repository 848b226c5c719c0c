/** The one place that asks which runtime this is. */
import type { RuntimeAdapter } from "./types.ts";
import { denoAdapter } from "./deno.ts";
import { bunAdapter } from "./bun.ts";
import { nodeAdapter } from "./node.ts";

/**
 * Picks the adapter for the running runtime. Deno and Bun are checked before
 * Node because both also expose `process`.
 */
export function detectAdapter(): RuntimeAdapter {
  const global = globalThis as { Deno?: unknown; Bun?: unknown };
  if (global.Deno !== undefined) return denoAdapter;
  if (global.Bun !== undefined) return bunAdapter;
  return nodeAdapter;
}
