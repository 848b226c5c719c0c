/**
 * The xattr calls of the C library on Bun, through `bun:ffi` (loaded with
 * `process.getBuiltinModule`, so that other runtimes never resolve it).
 * Bun gives descriptors, so the open file is changed through its
 * descriptor (`fsetxattr`).
 *
 * @module
 */
import process from "node:process";
import { openLibc, type Xattrs } from "./_acl.ts";

/** What this binding uses of `bun:ffi`. */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown> };
  read: { i32(pointer: unknown, offset: number): number };
}

const SYMBOLS = {
  lgetxattr: { args: ["ptr", "ptr", "ptr", "u64"], returns: "i64_fast" },
  fsetxattr: { args: ["i32", "ptr", "ptr", "u64", "i32"], returns: "i32" },
  fremovexattr: { args: ["i32", "ptr"], returns: "i32" },
  __errno_location: { args: [], returns: "ptr" },
};

/**
 * The calls, or `null` where they cannot be loaded (not Linux, no
 * `bun:ffi`, no C library by those names).
 */
export function loadBunXattrs(): Xattrs<number> | null {
  if (process.platform !== "linux") return null;
  const getBuiltin = (process as { getBuiltinModule?: (id: string) => unknown })
    .getBuiltinModule;
  const ffi = getBuiltin?.call(process, "bun:ffi") as BunFfi | undefined;
  if (ffi === undefined) return null;
  const c = openLibc((name) => ffi.dlopen(name, SYMBOLS).symbols);
  if (c === null) return null;
  // errno's address is per thread, and a module is loaded per thread (each
  // worker has its own): found once.
  const errno = c.__errno_location();
  // Read at once: nothing runs between the call and this read.
  const result = (value: unknown): number =>
    Number(value) < 0 ? -ffi.read.i32(errno, 0) : Number(value);
  return {
    get: (path, attr, into) =>
      result(c.lgetxattr(path, attr, into, into.length)),
    set: (fd, _path, attr, value) =>
      result(c.fsetxattr(fd, attr, value, value.length, 0)),
    remove: (fd, _path, attr) => result(c.fremovexattr(fd, attr)),
  };
}
