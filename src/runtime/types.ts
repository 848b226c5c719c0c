/**
 * The adapter contract: the few file-system operations the atomic-replace
 * algorithm needs, each in a synchronous and an asynchronous form, plus the
 * process facts it asks about. Each runtime implements it once
 * (`deno.ts`, `bun.ts`, `node.ts`); the algorithm only ever talks to this
 * interface, so a fault-injecting adapter can stand in for any runtime.
 * An adapter states each operation once, as one row of a table that names
 * the runtime's synchronous and asynchronous calls side by side and shares
 * what both do with the outcome (`_op_table.ts`), so the two forms cannot
 * drift apart.
 *
 * Every operation that fails throws (or rejects with) an error carrying a
 * POSIX-style string `code` (`ENOENT`, `EEXIST`, `ENOSPC`, …), whatever the
 * runtime reports natively (see {@linkcode AdapterError}). The facts every
 * adapter shares (retry codes, errno names, which directory-fsync
 * failures mean "not supported") live in `_posix.ts` and `_errno.ts`, and
 * `syncDir` is built once for all of them (`dirSync` in `_op_table.ts`).
 *
 * Where the contract bends for one runtime:
 * - `chmod`, `chown` and `writeAcl` get both the open file and its path:
 *   every adapter uses the descriptor (Deno's too: its open files are
 *   `node:fs` descriptors, `_fd_rows.ts`); the path names the file in errors.
 * - ACLs have no runtime API: Bun and Deno call the C library through their
 *   foreign-function interfaces (`_acl.ts`); Node cannot, and neither can
 *   Deno without `--allow-ffi`, and there `readAcl` says so (`undefined`).
 * - A permission the runtime withholds has no errno (a missing Deno flag;
 *   Node's permission model, which also disables `fsync`, `fchmod` and
 *   `fchown` outright): it counts as `EACCES`, with the runtime's message.
 * - `lstat` returns `null` when the entry does not exist; Node's and Bun's
 *   synchronous form also when a parent is not a directory (`ENOTDIR`),
 *   which the create that follows then reports.
 * - `remove` on Deno also removes an empty directory (`Deno.remove`); Node
 *   and Bun fail with `EISDIR` (`unlink`). The algorithm removes only
 *   regular files (its temporary and lock files, stale ones after `lstat`),
 *   so this shows only if a directory takes such a name in between.
 * - Deno's `lstat`/`stat` on Windows may know no mode, time or inode:
 *   `EntryInfo` then says `0o666`, `0` and an `id` of the device alone.
 * - Deno's `lstat`/`stat` give device and inode numbers as JavaScript
 *   numbers, rounded above 2^53: such an entry is described by the C
 *   library's `statx` instead, with `--allow-ffi` (`_statx_deno.ts`);
 *   without it its `id` equals no other (`_file_id.ts`).
 * - `ids()` on Deno needs `--allow-sys` (or `--allow-all`, for `/proc/self/status`).
 * - On Windows there are no owners (`uid`/`gid` -1), `syncDir` does nothing,
 *   and `rename` failures from scanners are retried (`RENAME_RETRY_CODES`).
 *
 * @module
 */
import type { TempOwner } from "../_temp_name.ts";
import type { OnExit } from "./_exit_hooks.ts";
import type { Writer, WriterState } from "./_writer_identity.ts";
import type { ProcessIdentity, ProcessStart } from "./_writer_identity.ts";
import type { FileWatch } from "./_watch.ts";
export type { FileWatch, ProcessIdentity, ProcessStart };

/**
 * An open file as the algorithm sees it: opaque. Each adapter is typed by its
 * own file (`RuntimeAdapter<number>`: a `node:fs` descriptor on Node, Bun and
 * Deno alike) and gets back only files it made.
 */
export type OpenFile = unknown;

/**
 * What an operation's error carries besides the runtime's own fields. A
 * permission the runtime withholds has no errno (Deno's `NotCapable`,
 * Node's `ERR_ACCESS_DENIED` under `--permission`): it counts as `EACCES`,
 * and its message, which names the flag or what the permission model
 * disables, goes into the library's (`isWithheldPermission`).
 */
export interface AdapterError extends Error {
  /** The POSIX name (`ENOENT`, …), the same on every runtime. */
  code: string;
}

/** `EntryInfo.uid`/`gid` where the platform has no owners (Windows). */
export const NO_OWNER = -1;
/** `EntryInfo.uid`/`gid` for an owner or group that `stat` could not name (see `_proc.ts`). */
export const UNKNOWN_OWNER = -2;

/**
 * A directory held open, and the path through which the names in it are
 * reached whatever happens to the directory's own path meanwhile (Linux's
 * `/proc/self/fd/N`, which the kernel follows to the open directory
 * itself): what `openat(2)` and `renameat(2)` give C, for runtimes whose
 * calls take only paths.
 */
export interface DirectoryHandle<F = OpenFile> {
  /** The open directory, closed with `close`. */
  readonly file: F;
  /** The path that leads to the open directory itself. */
  readonly path: string;
}

/** What the algorithm needs to know about an existing directory entry. */
export interface EntryInfo {
  /** The entry's type (for `lstat`, not following a final symbolic link). */
  kind:
    | "file"
    | "directory"
    | "symlink"
    | "fifo"
    | "socket"
    | "character device"
    | "block device";
  /** Permission bits, including set-user-ID, set-group-ID and sticky. */
  mode: number;
  /**
   * Owner: {@linkcode NO_OWNER} where the platform has none,
   * {@linkcode UNKNOWN_OWNER} for an owner that this process's user
   * namespace does not map (`stat` shows the kernel's placeholder for it:
   * see `_proc.ts`).
   */
  uid: number;
  /** Group, as `uid`. */
  gid: number;
  /** Last modification, in milliseconds since the epoch. */
  mtimeMs: number;
  /** Size in bytes (of the link itself for a symbolic link). */
  size: number;
  /**
   * Which file this is, `dev:ino` in decimal from the exact 64-bit numbers:
   * equal ids, same file. One that cannot be told equals no other (see
   * `_file_id.ts`).
   */
  id: string;
  /** How many names (hard links) the file has; 1 where the platform will not say. */
  links: number;
}

/** A whole file's bytes, and who owns the file they were read from. */
export interface FileContent {
  readonly bytes: Uint8Array;
  /** Its owner, as {@linkcode EntryInfo.uid}. */
  readonly uid: number;
}

/** The file-system operations, in their synchronous form, on open files of type `F`. */
export interface FsOps<F = OpenFile> {
  /** Describes `path` without following a final link; `null` if it does not exist (see the module doc for `ENOTDIR`). */
  lstat(path: string): EntryInfo | null;
  /** Describes `path`, following symbolic links; `null` if it (or a link's target) does not exist. */
  stat(path: string): EntryInfo | null;
  /** The target of the symbolic link at `path`, as stored in the link. */
  readLink(path: string): string;
  /** Creates `path` and any missing parents. */
  mkdir(path: string): void;
  /**
   * Creates the directory `path` alone, with `mode` (less the umask),
   * failing with `EEXIST` if anything is at that name, even a directory.
   */
  makeDirectory(path: string, mode: number): void;
  /** Creates a new file for writing, failing with `EEXIST` if `path` exists (`O_CREAT|O_EXCL`). */
  createExclusive(path: string, mode: number): F;
  /**
   * Opens the existing regular file at `path` for writing if `write`, else
   * for reading, never through a final link (`O_NOFOLLOW`) nor blocking: a
   * temporary file of the library's own, closed while its write waited for
   * its turn, whose bits may not let its owner write it. Read access is
   * enough for what is done to it then (`chmod`, `chown`, `writeAcl`,
   * `sync`) on Linux and macOS; Windows flushes only a file open for
   * writing, and opens one for writing unless it is read-only.
   */
  reopen(path: string, write: boolean): F;
  /**
   * Which file the open file is, as {@linkcode EntryInfo.id} (its `fstat`):
   * a file reopened by name is checked against it (another file may have
   * been put at the name meanwhile). One that cannot be told (Deno's
   * rounded numbers, without `--allow-ffi`) equals no other.
   */
  identify(file: F): string;
  /** Writes from the start of `bytes`; returns how many were written (possibly fewer). */
  write(file: F, bytes: Uint8Array): number;
  /** Flushes the file's data and metadata to the device (`fsync`). */
  sync(file: F): void;
  /**
   * Sets the permission bits of the open file found at `path`, through its
   * descriptor (`fchmod`): never whatever the name leads to now.
   */
  chmod(file: F, path: string, mode: number): void;
  /** Sets the owner and group (-1 keeps one) of the open file found at `path`; `file` or `path` as for `chmod`. */
  chown(file: F, path: string, uid: number, gid: number): void;
  /**
   * The POSIX access ACL of the file at `path` (a final link not followed),
   * as Linux stores it (`system.posix_acl_access`); `null` if it has none or
   * its file system has none; `undefined` where this runtime cannot read
   * extended attributes (Node; Deno without `--allow-ffi`; not Linux).
   */
  readAcl(path: string): Uint8Array | null | undefined;
  /**
   * Gives the open file found at `path` the access ACL `acl` (as `readAcl`
   * gave it), or removes the one it has (`null`); `file` or `path` as for
   * `chmod`. Only called after `readAcl` gave an answer other than `undefined`.
   */
  writeAcl(file: F, path: string, acl: Uint8Array | null): void;
  /** Closes the file. */
  close(file: F): void;
  /** Atomically replaces `to` with `from`. */
  rename(from: string, to: string): void;
  /** Creates the hard link `to` for `from`, failing with `EEXIST` if `to` exists. */
  link(from: string, to: string): void;
  /** Removes the file at `path`. */
  remove(path: string): void;
  /**
   * Removes the empty directory at `path` (`rmdir`), failing with
   * `ENOTEMPTY` (or `EEXIST`) if it has entries. Deno has no call that
   * refuses a file there; the algorithm only names directories it made.
   */
  removeDir(path: string): void;
  /**
   * Where the open file is now, as the kernel knows it (Linux's
   * /proc/self/fd), even after a directory above it was renamed; `null`
   * where the platform will not tell (no /proc, Deno without `--allow-all`),
   * the file has no name left, or the name the kernel gives does not lead
   * to it (a file system unmounted lazily, named from its own root).
   */
  locate(file: F): string | null;
  /**
   * Opens the directory at `path` as a {@linkcode DirectoryHandle}; `null`,
   * opening nothing, where names cannot be reached through an open
   * directory (no /proc: not Linux, or not mounted; Windows; Deno without
   * `--allow-all`, which alone lets it name /proc/self/fd; Node's permission
   * model, unless it grants /proc).
   */
  openDirectory(path: string): DirectoryHandle<F> | null;
  /**
   * Flushes the directory at `path` so that renames in it survive a power
   * cut; through `held`, that directory already open (`openDirectory`), if
   * given, which stays open.
   */
  syncDir(path: string, held?: F): void;
  /** The names in the directory at `path`. */
  readDir(path: string): string[];
  /** Waits `ms` milliseconds. */
  sleep(ms: number): void;
  /**
   * The whole content of the file at `path`, and its owner, as one open of
   * it saw them; `null` if it does not exist.
   */
  readFile(path: string): FileContent | null;
  /** Sets the modification time of the open file (a lock's heartbeat). */
  touch(file: F, mtimeMs: number): void;
  /**
   * Sets the modification time of the file at `path`, a final link not
   * followed (`lutimes`): a lock's heartbeat through the holder's own name.
   */
  touchName(path: string, mtimeMs: number): void;
}

/** The file-system operations, in their asynchronous form. */
export type AsyncFsOps<F = OpenFile> = {
  [K in keyof FsOps<F>]: (
    ...args: Parameters<FsOps<F>[K]>
  ) => Promise<ReturnType<FsOps<F>[K]>>;
};

/** The name of a file-system operation. */
export type OpName = keyof FsOps;

/** Who the process runs as, on platforms that have owners. */
export interface ProcessIds {
  uid: number;
  gid: number;
}

/**
 * Linux's sysctls that guard shared sticky directories such as `/tmp`
 * (`fs.protected_symlinks`, `fs.protected_regular`: 0 off, 1 or 2 on);
 * `null` where they cannot be read (not Linux, or no permission), which the
 * algorithm treats as on.
 */
export interface StickyProtections {
  symlinks: number | null;
  regular: number | null;
}

/** Everything the algorithm receives from the runtime it runs on; `F` is its open file. */
export interface RuntimeAdapter<F = OpenFile> {
  /** Runtime name, for messages and reports only; the algorithm never branches on it. */
  readonly name: string;
  /** The operations, synchronous. */
  readonly sync: FsOps<F>;
  /** The same operations, asynchronous. */
  readonly async: AsyncFsOps<F>;
  /** This process's id (it goes into temporary file names). */
  readonly pid: number;
  /** Error codes from `rename` that are transient on this platform and worth retrying. */
  readonly renameRetryCodes: ReadonlySet<string>;
  /**
   * The user and group the process creates files as, or `null` where the
   * platform has no owners or the runtime will not tell.
   */
  ids(): ProcessIds | null;
  /**
   * Whether the kernel lets this process open any file whatever its bits:
   * Linux's `CAP_DAC_OVERRIDE` in its effective set (`CapEff` in
   * /proc/self/status), which root has unless it was dropped (a container's
   * `--cap-drop`, a systemd unit's `CapabilityBoundingSet`). Read afresh on
   * each call (a process may drop it while it runs); `false` where it
   * cannot be read (not Linux, Deno without `--allow-all`, Node's
   * permission model without /proc granted). A read that fails for want of
   * descriptors answers as the last one did (see `PermissionOverride` in
   * `_proc.ts`).
   */
  overridesPermissions(): boolean;
  /** The kernel's sticky-directory protections, read afresh on each call. */
  protections(): StickyProtections;
  /**
   * Throws the runtime's own refusal (see the module doc: it counts as
   * `EACCES`) if its permissions forbid reading or writing (`access`)
   * `path` by name: Deno's `--allow-read`/`--allow-write` (asked as an
   * operation on it would ask, prompting where Deno prompts), Node's
   * `--allow-fs-read`/`--allow-fs-write` under `--permission`. A link the
   * library follows itself is checked so, as the runtime checks the name a
   * plain write is given; the kernel, which follows it for the runtime,
   * knows nothing of these permissions. So is a lock file before it is
   * made, which its holder must be able to look at. Nothing where the
   * runtime has no permission model (Bun, Node without `--permission`).
   */
  checkAccess(path: string, access: "read" | "write"): void;
  /** The directory for temporary files (`$TMPDIR`, `/tmp`, …). */
  tmpDir(): string;
  /**
   * The current directory's path, as the kernel has it now (see
   * `_current_directory.ts`); throws where no path leads to it.
   */
  currentDirectory(): string;
  /** Whether a process with this id is alive on this machine (lock holders; temporary files use `writerState`). */
  isProcessAlive(pid: number): boolean;
  /** Who this process is, for lock files: host, boot id, pid, start time, pid namespace. */
  identity(): ProcessIdentity;
  /** The start time (as in {@linkcode ProcessIdentity.start}) and state of process `pid`; `null` if unknown. */
  processStart(pid: number): ProcessStart | null;
  /**
   * When this machine booted (ms since the epoch, rounded down to the
   * second), or `null` if unknown. Read anew at every call: it moves when
   * the wall clock is stepped.
   */
  bootTime(): number | null;
  /**
   * Calls `tick` every `ms` milliseconds without keeping the process alive;
   * returns the function that stops it.
   */
  repeat(tick: () => void, ms: number): () => void;
  /** Waits up to `ms` ms for the file at `path` to change, so that an asynchronous lock waiter wakes when the lock is released (see `_watch.ts`). */
  watchFile(path: string, ms: number): FileWatch;
  /**
   * The calling thread as the writer named in temporary file names: fully
   * known where /proc tells (Linux; on Deno only with `--allow-all`), else
   * only the process id. See `_writer_identity.ts`.
   */
  writer(): TempOwner;
  /** Whether a writer read back from a temporary name still runs; "unknown" is never "gone". */
  writerState(writer: Writer): WriterState;
  /**
   * Registers `cleanup` (synchronous) for the ways out of this thread that
   * run JavaScript, and returns the function that unregisters it. Never
   * listens to a signal (see `_exit_hooks.ts` for why, and what that means).
   */
  onExit: OnExit;
}
