/**
 * The xattr calls of the C library on Deno, through `Deno.dlopen`, which
 * needs `--allow-ffi`: without it the library asks nothing (no prompt) and
 * cannot see ACLs. The open file is changed through its descriptor
 * (`fsetxattr`: a `node:fs` one, see `_fd_rows.ts`).
 *
 * @module
 */
import { openLibc, type Xattrs } from "./_acl.ts";

const SYMBOLS = {
  lgetxattr: {
    parameters: ["buffer", "buffer", "buffer", "usize"],
    result: "isize",
  },
  fsetxattr: {
    parameters: ["i32", "buffer", "buffer", "usize", "i32"],
    result: "i32",
  },
  fremovexattr: { parameters: ["i32", "buffer"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** Whether `--allow-ffi` was given (asked without a prompt). */
export function ffiAllowed(): boolean {
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
export function loadDenoXattrs(): Xattrs<number> | null {
  if (Deno.build.os !== "linux" || !ffiAllowed()) return null;
  const c = openLibc((name) => Deno.dlopen(name, SYMBOLS).symbols);
  const at = c?.__errno_location() ?? null;
  if (c === null || at === null) return null;
  // errno's address is per thread, and a module is loaded per thread (each
  // worker has its own): found once.
  const errno = new Deno.UnsafePointerView(at);
  // Read at once: nothing runs between the call and this read.
  const result = (value: number | bigint): number =>
    Number(value) >= 0 ? Number(value) : -errno.getInt32();
  return {
    get: (path, attr, into) =>
      result(c.lgetxattr(path, attr, into, BigInt(into.length))),
    set: (fd, _path, attr, value) =>
      result(c.fsetxattr(fd, attr, value, BigInt(value.length), 0)),
    remove: (fd, _path, attr) => result(c.fremovexattr(fd, attr)),
  };
}
