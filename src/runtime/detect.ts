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
  if (global.Deno !== undefined) return opaque(denoAdapter);
  if (global.Bun !== undefined) return opaque(bunAdapter);
  return opaque(nodeAdapter);
}

/**
 * An adapter as the algorithm sees it, its file type hidden: the one cast of
 * the seam, sound because the algorithm only hands an adapter back the
 * files that adapter created.
 */
function opaque<F>(adapter: RuntimeAdapter<F>): RuntimeAdapter {
  return adapter as unknown as RuntimeAdapter;
}
