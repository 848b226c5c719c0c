/** Replacing a file's content atomically, synchronously. */
import type { AtomicOptions } from "./atomic_options.ts";
import type { AtomicChunk } from "./write_file_atomic.ts";
import { writeResolvedSync } from "./_write.ts";
import { resolveOptions, toAbsolutePath } from "./_validate.ts";

/**
 * Replaces the content of `path` with `data` atomically and (by default)
 * durably, blocking until done: readers see the old file or the new one,
 * never a mix, and after a crash or power cut one of the two is there.
 * Runs the very same steps as {@linkcode writeFileAtomic}.
 *
 * @param path The file to replace (a string or a `file:` URL).
 * @param data The new content: a string (written in the `encoding` option,
 * UTF-8 by default), any `ArrayBufferView` or `ArrayBuffer`, or a
 * synchronous iterable of those.
 * @param options How to write; see {@linkcode AtomicOptions}.
 * @throws {TypeError} If an argument has the wrong type, an option is unknown, or `path` is empty or contains a NUL byte.
 * @throws {RangeError} If `mode` is not a permission mask (an integer from 0 to 0o7777).
 * @throws {AtomicWriteError} If a file-system step fails; the target is then unchanged and no temporary file is left, unless only the final directory fsync failed (`committed` is then true).
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
  data: AtomicChunk | Iterable<AtomicChunk>,
  options?: AtomicOptions,
): void {
  writeResolvedSync(toAbsolutePath(path), data, resolveOptions(options));
}
