/**
 * Names the kernel holds as bytes that are not UTF-8 (a link's text, the
 * current directory's path). No string can spell such a name: Node and Bun
 * decode its bytes to U+FFFD, which spells another name, so the write would
 * go to another file; Deno refuses it with `InvalidData`. Read from the
 * kernel, such a name is refused here instead, with `EILSEQ` ("illegal byte
 * sequence") on every runtime.
 *
 * @module
 */
import fs from "node:fs";
import os from "node:os";
import process from "node:process";

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `node:fs`'s option for a name as it is, in bytes, for {@linkcode exactName}. */
export const AS_BYTES = { encoding: "buffer" } as const;

/** Deno's words for a name or an environment variable that is not UTF-8 (its `InvalidData` error). */
const DENO_NOT_UTF8 = /(is|was) not valid (UTF-8|unicode)/;

/** A name read from the kernel that no string can spell. */
class NotUtf8NameError extends Error {
  readonly code = "EILSEQ";
  readonly errno: number = -(os.constants.errno.EILSEQ ?? 84);
  readonly syscall: string;
  readonly path?: string;
  constructor(syscall: string, path?: string) {
    super(
      `EILSEQ: a name ${syscall} read${
        path === undefined ? "" : ` ("${path}")`
      } is not valid UTF-8`,
    );
    this.name = "NotUtf8NameError";
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
  }
}

/**
 * Whether `error` says a name is not UTF-8: this module's, or Deno's
 * `InvalidData`.
 */
export function isNotUtf8Name(error: unknown): boolean {
  return error instanceof NotUtf8NameError ||
    (error instanceof Error && error.name === "InvalidData" &&
      DENO_NOT_UTF8.test(error.message));
}

/**
 * `bytes`, a name the call `syscall` read, as a string; throws an `EILSEQ`
 * error if they are not UTF-8 (`path`: what it read, for the message).
 */
export function exactName(
  bytes: Uint8Array,
  syscall: string,
  path?: string,
): string {
  try {
    return strict.decode(bytes);
  } catch {
    throw new NotUtf8NameError(syscall, path);
  }
}

/**
 * Throws an `EILSEQ` error if `cwd`, the current directory as the runtime
 * decoded it, holds U+FFFD where the real path's bytes are not UTF-8 (Linux,
 * from `/proc/self/cwd`; elsewhere nothing can tell, and it is taken as it
 * is). A path without U+FFFD costs nothing.
 */
export function checkCurrentDirectory(cwd: string): void {
  if (!cwd.includes("\uFFFD")) return;
  let bytes: Uint8Array;
  try {
    bytes = fs.readlinkSync("/proc/self/cwd", AS_BYTES);
  } catch (error) {
    if (isNotUtf8Name(error)) throw new NotUtf8NameError("getcwd", cwd);
    return;
  }
  exactName(bytes, "getcwd", cwd);
}

/** The entries of a NUL-separated file of /proc (`cmdline`, `environ`). */
export function nulSeparated(bytes: Uint8Array): Uint8Array[] {
  const entries: Uint8Array[] = [];
  for (let start = 0; start < bytes.length;) {
    const end = bytes.indexOf(0, start);
    entries.push(bytes.subarray(start, end === -1 ? undefined : end));
    start = end === -1 ? bytes.length : end + 1;
  }
  return entries;
}

/**
 * The process's environment as the kernel holds it, `NAME=value` entries
 * in bytes (Linux's `/proc/self/environ`); `null` where it cannot be read.
 */
export function rawEnvironment(): Uint8Array[] | null {
  try {
    return nulSeparated(fs.readFileSync("/proc/self/environ"));
  } catch {
    return null;
  }
}

/**
 * `dir`, the temporary directory as `os.tmpdir()` gave it (from `TMPDIR`,
 * `TMP` or `TEMP`); throws an `EILSEQ` error if it holds U+FFFD where the
 * variable's bytes are not UTF-8 (Linux, from `/proc/self/environ`), as Node
 * and Bun decode them: it would name another directory.
 */
export function checkTemporaryDirectory(dir: string): string {
  if (!dir.includes("\uFFFD")) return dir;
  const name = ["TMPDIR", "TMP", "TEMP"].find((name) => process.env[name]);
  const environ = rawEnvironment();
  if (environ === null) return dir; // nothing can tell
  const prefix = new TextEncoder().encode(`${name}=`);
  for (const entry of environ) {
    if (prefix.every((byte, i) => entry[i] === byte)) {
      exactName(entry.subarray(prefix.length), "getenv", name);
    }
  }
  return dir;
}
