/** Replacing a file's content atomically, synchronously. */
import type { AtomicOptions } from "./atomic_options.ts";
import { currentContext, startReplacement } from "./_context.ts";
import { replace } from "./_replace.ts";
import { runSync } from "./_run.ts";
import { resolveOptions, toAbsolutePath, toBytes } from "./_validate.ts";

/**
 * Replaces the content of `path` with `data` atomically and (by default)
 * durably, blocking until done: readers see the old file or the new one,
 * never a mix, and after a crash or power cut one of the two is there.
 * Runs the very same steps as {@linkcode writeFileAtomic}.
 *
 * @param path The file to replace (a string or a `file:` URL).
 * @param data The new content; strings are written as UTF-8.
 * @param options How to write; see {@linkcode AtomicOptions}.
 * @throws {TypeError} If an argument has the wrong type or `path` is empty or contains a NUL byte.
 * @throws {AtomicWriteError} If a file-system step fails; the target is then unchanged and no temporary file is left.
 *
 * @example Usage
 * ```ts
 * import { writeFileAtomicSync } from "@x/atomic";
 *
 * const dir = Deno.makeTempDirSync();
 * writeFileAtomicSync(`${dir}/config.json`, JSON.stringify({ port: 8080 }));
 * ```
 */
export function writeFileAtomicSync(
  path: string | URL,
  data: string | Uint8Array,
  options?: AtomicOptions,
): void {
  const target = toAbsolutePath(path);
  const resolved = resolveOptions(options);
  const bytes = toBytes(data);
  resolved.signal?.throwIfAborted();
  const context = currentContext();
  const s = startReplacement(context, target, resolved);
  runSync(replace(s, bytes), context.adapter.sync);
}
