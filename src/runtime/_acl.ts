/**
 * POSIX access ACLs, read and written as Linux stores them: the
 * `system.posix_acl_access` extended attribute, whose value is the whole
 * ACL (owner, named users and groups, mask, others). No runtime has an
 * xattr API; Bun and Deno reach the C library's calls through their
 * foreign-function interfaces (`_libc_bun.ts`, `_libc_deno.ts`), Node has
 * none. Where the calls cannot be loaded (Node, Deno without `--allow-ffi`,
 * not Linux), `readAcl` answers `undefined`: the runtime cannot tell.
 *
 * @module
 */
import type { Twin } from "./_op_table.ts";
import { ERRNO_NAMES } from "./_errno.ts";

/**
 * The C library's xattr calls, as a binding gives them: each returns what
 * the call returns, or `-errno` where it fails. `file`/`path` name the same
 * open file; a binding uses whichever its runtime has (Bun the descriptor,
 * Deno, which hides descriptors, the path).
 */
export interface Xattrs<F> {
  /** `lgetxattr(path, name, into, into.length)`. */
  get(path: Uint8Array, name: Uint8Array, into: Uint8Array): number;
  /** `fsetxattr`/`lsetxattr` of `value`, replacing any value `name` has. */
  set(file: F, path: Uint8Array, name: Uint8Array, value: Uint8Array): number;
  /** `fremovexattr`/`lremovexattr`. */
  remove(file: F, path: Uint8Array, name: Uint8Array): number;
}

/** The C library's names to try: glibc's, then a generic one (musl). */
const LIBC_NAMES = ["libc.so.6", "libc.so"];

/** What `open` makes of the first C library it can load; `null` if none. */
export function openLibc<L>(open: (name: string) => L): L | null {
  for (const name of LIBC_NAMES) {
    try {
      return open(name);
    } catch { /* not by this name: the next one */ }
  }
  return null;
}

const encoder = new TextEncoder();

/** `text` as a C string: UTF-8, then NUL. */
function cString(text: string): Uint8Array {
  return encoder.encode(`${text}\0`);
}

const ACCESS_ACL = cString("system.posix_acl_access");

/**
 * Room for 30 entries of 8 bytes after the 4-byte header: any ACL a person
 * writes. A longer one fails with `ERANGE` and is read again at its size.
 */
const FIRST_READ_BYTES = 244;

/**
 * Failures that mean "no ACL": the file has none (`ENODATA`), its file
 * system has none (`ENOTSUP`, which is also `EOPNOTSUPP` on Linux; FUSE
 * without xattr calls: `ENOSYS`), or it is gone (`ENOENT`: nothing to keep).
 */
const NO_ACL = new Set(["ENODATA", "ENOTSUP", "ENOSYS", "ENOENT"]);

/** An error as a runtime's own calls throw them: `code`, `errno`, `syscall`, `path`. */
function xattrError(failed: number, syscall: string, path: string): Error {
  const code = nameOf(failed);
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), {
    code,
    errno: failed,
    syscall,
    path,
  });
}

/** The POSIX name of a call's `-errno` result. */
function nameOf(failed: number): string {
  return ERRNO_NAMES.get(-failed) ?? "EIO";
}

/** The twin of a synchronous-only call: the asynchronous form runs it. */
function syncOnly<A extends unknown[], R>(sync: (...args: A) => R): Twin<A, R> {
  return {
    sync,
    async: (...args) => {
      try {
        return Promise.resolve(sync(...args));
      } catch (error) {
        return Promise.reject(error);
      }
    },
  };
}

/** The two ACL rows of an adapter's table. */
export interface AclRows<F> {
  readAcl: Twin<[string], Uint8Array | null | undefined>;
  writeAcl: Twin<[F, string, Uint8Array | null], void>;
}

/**
 * The rows `readAcl` and `writeAcl` over the binding `load` gives, loaded
 * on first use; `null` from `load`: this runtime cannot see ACLs. Both
 * forms make the system call on the calling thread (no foreign call with
 * an `errno` can move to another): one local call takes microseconds, on a
 * network file system one round trip.
 */
export function aclRows<F>(load: () => Xattrs<F> | null): AclRows<F> {
  const firstRead = new Uint8Array(FIRST_READ_BYTES);
  let loaded: Xattrs<F> | null | undefined;
  const xattrs = (): Xattrs<F> | null =>
    loaded === undefined ? loaded = load() : loaded;

  function readAcl(path: string): Uint8Array | null | undefined {
    const calls = xattrs();
    if (calls === null) return undefined;
    const cPath = cString(path);
    let into = firstRead; // copied out below: one buffer serves every call
    for (;;) {
      const size = calls.get(cPath, ACCESS_ACL, into);
      if (size >= 0) return size === 0 ? null : into.slice(0, size);
      if (NO_ACL.has(nameOf(size))) return null;
      if (nameOf(size) !== "ERANGE") throw xattrError(size, "lgetxattr", path);
      // Longer than the buffer: ask its size, then read it again.
      const needed = calls.get(cPath, ACCESS_ACL, new Uint8Array(0));
      if (needed < 0) throw xattrError(needed, "lgetxattr", path);
      into = new Uint8Array(needed);
    }
  }

  function writeAcl(file: F, path: string, acl: Uint8Array | null): void {
    const calls = xattrs();
    if (calls === null) {
      const error = new Error(`ENOSYS: setxattr '${path}' (no xattr calls)`);
      throw Object.assign(error, { code: "ENOSYS", syscall: "setxattr", path });
    }
    const cPath = cString(path);
    if (acl !== null) {
      const done = calls.set(file, cPath, ACCESS_ACL, acl);
      if (done < 0) throw xattrError(done, "setxattr", path);
      return;
    }
    const done = calls.remove(file, cPath, ACCESS_ACL);
    if (done < 0 && !NO_ACL.has(nameOf(done))) {
      throw xattrError(done, "removexattr", path);
    }
  }

  return { readAcl: syncOnly(readAcl), writeAcl: syncOnly(writeAcl) };
}
