/**
 * The xattr calls of the C library on Deno, through `Deno.dlopen`, which
 * needs `--allow-ffi`: without it the library asks nothing (no prompt) and
 * cannot see ACLs. Deno hides descriptors, so the open file is changed
 * through its path (`lsetxattr`), as `chmod` is on Deno.
 *
 * @module
 */
import type { Xattrs } from "./_acl.ts";

/** The C library's names to try: glibc's, then a generic one (musl). */
const LIBC = ["libc.so.6", "libc.so"];

const SYMBOLS = {
  lgetxattr: {
    parameters: ["buffer", "buffer", "buffer", "usize"],
    result: "isize",
  },
  lsetxattr: {
    parameters: ["buffer", "buffer", "buffer", "usize", "i32"],
    result: "i32",
  },
  lremovexattr: { parameters: ["buffer", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** Whether `--allow-ffi` was given (asked without a prompt). */
function ffiAllowed(): boolean {
  try {
    return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * The calls, or `null` where they cannot be loaded (not Linux, no
 * `--allow-ffi`, no C library by those names).
 */
export function loadDenoXattrs(): Xattrs<Deno.FsFile> | null {
  if (Deno.build.os !== "linux" || !ffiAllowed()) return null;
  for (const name of LIBC) {
    let c;
    try {
      c = Deno.dlopen(name, SYMBOLS).symbols;
    } catch {
      continue;
    }
    const calls = c;
    // errno's address is per thread, and a module is loaded per thread
    // (each worker has its own): found once.
    const at = calls.__errno_location();
    if (at === null) return null;
    const errno = new Deno.UnsafePointerView(at);
    // Read at once: nothing runs between the call and this read.
    const result = (value: number | bigint): number =>
      Number(value) >= 0 ? Number(value) : -errno.getInt32();
    return {
      get: (path, attr, into) =>
        result(calls.lgetxattr(path, attr, into, BigInt(into.length))),
      set: (_file, path, attr, value) =>
        result(calls.lsetxattr(path, attr, value, BigInt(value.length), 0)),
      remove: (_file, path, attr) => result(calls.lremovexattr(path, attr)),
    };
  }
  return null;
}
