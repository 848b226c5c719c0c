/**
 * Exact device and inode numbers on Deno, whose `stat` calls (its own and
 * its `node:fs`, even with `{ bigint: true }`) give them as JavaScript
 * numbers, rounded above 2^53 (see `_file_id.ts`): the C library's
 * `statx(2)`, through `Deno.dlopen`, which needs `--allow-ffi`. Without it
 * (asked without a prompt), or off Linux, there is none, and such a file's
 * id cannot be told. Asked only after Deno's own `stat` of the same path
 * succeeded, so Deno's read permission has been checked for it.
 *
 * @module
 */
import { openLibc } from "./_acl.ts";
import { ERRNO_NAMES } from "./_errno.ts";
import { ffiAllowed } from "./_libc_deno.ts";

const STATX = {
  parameters: ["i32", "buffer", "i32", "u32", "buffer"],
  result: "i32",
} as const;

const SYMBOLS = {
  statx: STATX,
  // The same call on Deno's FFI thread pool, for the asynchronous `stat`s.
  statxAsync: { ...STATX, name: "statx", nonblocking: true },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
/** `STATX_BASIC_STATS`: what `stat(2)` gives. */
const BASIC_STATS = 0x7ff;
/** `sizeof(struct statx)`. */
const STATX_BYTES = 256;

/** A `struct statx`, as much of it as an `EntryInfo` needs. */
export interface Statx {
  /** The device, as glibc's `makedev` makes `st_dev` of its major and minor (so Deno's `dev`). */
  readonly dev: bigint;
  readonly ino: bigint;
  /** Type and permission bits (`st_mode`). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
  readonly size: number;
  /** Last modification in whole milliseconds, as Deno's `mtime` has it. */
  readonly mtimeMs: number;
}

/**
 * `statx` of a path, a final link followed or not (`lstat`); throws with the
 * errno's `code`, or gives `null` where the call itself is refused (see
 * {@linkcode REFUSED}).
 */
export interface ExactStat {
  sync(path: string, follow: boolean): Statx | null;
  async(path: string, follow: boolean): Promise<Statx | null>;
}

/**
 * The errnos of a `statx` refused as a call, not failed for its path: a
 * seccomp policy that does not allow it (Docker's default profile before
 * 2019 answered `EPERM`), or a kernel without it. Deno's own `stat`, made
 * first, fell back to `fstatat` there (Rust's standard library does): the
 * thread asks no more, and its files are described as without
 * `--allow-ffi`, where their numbers may be rounded.
 */
const REFUSED = new Set([1, 38]); // EPERM, ENOSYS

/** glibc's `makedev`, in the 64-bit layout Deno's `dev` comes in. */
function makedev(major: number, minor: number): bigint {
  const [ma, mi] = [BigInt(major), BigInt(minor)];
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) |
    ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** The fields of the `struct statx` in `buffer` (offsets from `linux/stat.h`). */
function fields(buffer: Uint8Array): Statx {
  const view = new DataView(buffer.buffer, buffer.byteOffset, STATX_BYTES);
  const le = true;
  return {
    nlink: view.getUint32(16, le),
    uid: view.getUint32(20, le),
    gid: view.getUint32(24, le),
    mode: view.getUint16(28, le),
    ino: view.getBigUint64(32, le),
    size: Number(view.getBigUint64(40, le)),
    mtimeMs: Number(view.getBigInt64(112, le)) * 1000 +
      Math.floor(view.getUint32(120, le) / 1e6),
    dev: makedev(view.getUint32(136, le), view.getUint32(140, le)),
  };
}

const encoder = new TextEncoder();

/** The error of a failed `statx` of `path`: the errno's name as `code`, as Deno's own errors carry. */
function failure(errno: number, path: string): Error {
  const code = ERRNO_NAMES.get(errno) ?? "EIO";
  return Object.assign(
    new Error(`${code}: statx '${path}'`),
    { code, errno: -errno, syscall: "statx", path },
  );
}

/**
 * The calls, or `null` where they cannot be loaded (not Linux, no
 * `--allow-ffi`, no C library with `statx`: glibc before 2.28). Loaded on
 * first use, once per thread (each worker loads its modules, and its errno
 * is its own).
 */
function load(): ExactStat | null {
  if (Deno.build.os !== "linux" || !ffiAllowed()) return null;
  const c = openLibc((name) => Deno.dlopen(name, SYMBOLS).symbols);
  const at = c?.__errno_location() ?? null;
  if (c === null || at === null) return null;
  const errno = new Deno.UnsafePointerView(at);
  const args = (path: string, follow: boolean) =>
    [
      AT_FDCWD,
      encoder.encode(`${path}\0`),
      follow ? 0 : AT_SYMLINK_NOFOLLOW,
      BASIC_STATS,
      new Uint8Array(STATX_BYTES),
    ] as const;
  const sync = (path: string, follow: boolean): Statx | null => {
    const call = args(path, follow);
    if (c.statx(...call) === 0) return fields(call[4]);
    // errno read at once: nothing runs between the call and this read.
    const code = errno.getInt32();
    if (!REFUSED.has(code)) throw failure(code, path);
    loaded = null;
    return null;
  };
  return {
    sync,
    // The pool thread's errno cannot be read from here: a failure is asked
    // again on this thread, and that call's answer, whatever it is, stands.
    async: async (path, follow) => {
      const call = args(path, follow);
      return await c.statxAsync(...call) === 0
        ? fields(call[4])
        : sync(path, follow);
    },
  };
}

/** `undefined`: not loaded yet. */
let loaded: ExactStat | null | undefined;

/** `statx` through the C library, or `null` where Deno cannot call it (see the module doc). */
export function exactStat(): ExactStat | null {
  if (loaded === undefined) loaded = load();
  return loaded;
}
