/** Options shared by {@linkcode openAtomic}, {@linkcode writeFileAtomic} and {@linkcode writeFileAtomicSync}. */

/**
 * How an atomic write behaves. Only the object's own properties count,
 * each read once: inherited ones (a polluted `Object.prototype`'s too) are
 * ignored, and any other own key throws a `TypeError`.
 *
 * @example Usage
 * ```ts
 * import { writeFileAtomic, type AtomicOptions } from "@x/atomic";
 *
 * const options: AtomicOptions = { mode: 0o600, mkdir: true };
 * await writeFileAtomic(await Deno.makeTempDir() + "/secrets/token", "s3cr3t", options);
 * ```
 */
export interface AtomicOptions {
  /**
   * Flush the temporary file to the device before the rename, and the
   * directory after it, so that the new content survives a power cut.
   * `false` skips both: readers, and a crash of the process (even
   * `kill -9`), still see old or new content, never a mix; but after a power
   * cut or kernel crash the old content may come back, or, depending on the
   * file system, the file may be found empty or partly written (ext4 with
   * its default `auto_da_alloc` guards against that; XFS and btrfs do not).
   *
   * @default {true}
   */
  fsync?: boolean | undefined;
  /**
   * Permission bits of the result, applied exactly (the umask does not
   * reduce them).
   *
   * @default {the existing target's bits; for a new file 0o666 less the umask}
   */
  mode?: number | undefined;
  /**
   * Replace an existing file. `false` makes the write an atomic
   * create-if-absent: it fails with code `EEXIST` and leaves an existing
   * file untouched, and of many concurrent writers exactly one succeeds.
   *
   * @default {true}
   */
  overwrite?: boolean | undefined;
  /**
   * Aborting it at any point before the rename removes the temporary file
   * and rejects with the signal's reason.
   */
  signal?: AbortSignal | undefined;
  /**
   * How string data is turned into bytes: one of `"utf8"` (also
   * `"utf-8"`), `"utf16le"` (also `"utf-16le"`, `"ucs2"`, `"ucs-2"`),
   * `"latin1"` (also `"binary"`), `"ascii"`, `"base64"`, `"base64url"` or
   * `"hex"`, with Node's `Buffer` meaning, the same on every runtime.
   * Bytes are written as they are.
   *
   * @default {"utf8"}
   */
  encoding?: string | undefined;
  /**
   * Create missing parent directories.
   *
   * @default {false}
   */
  mkdir?: boolean | undefined;
}
