/**
 * The Deno adapter, on Deno's own file APIs for paths (`Deno.lstat`,
 * `Deno.rename`, …), and on real descriptors for the files the library
 * creates and writes (Deno's `node:fs`, `_fd_rows.ts`): an `FsFile` hides
 * its descriptor, and with it `fchmod`, `fchown` and `fsetxattr`, which
 * Deno has only by path, following whatever another user who may rename
 * entries in the directory put at the temporary file's name. Measured in
 * Deno 2.9, its `node:fs` creates, writes and closes a file as fast as
 * `Deno.open` and `FsFile` do. Deno errors already carry a POSIX `code` in
 * most cases; the few that do not (`NotCapable`, errors raised before any
 * system call) get one here, so the algorithm sees the same codes as on
 * Node and Bun.
 */
import fs from "node:fs";
import process from "node:process";
import type { EntryInfo, ProcessIds, RuntimeAdapter } from "./types.ts";
import { sleep, sleepSync } from "./_sleep.ts";
import { ERRNO_NUMBERS, isWithheldPermission, posixCode } from "./_errno.ts";
import { errorCode } from "../_error_code.ts";
import { isWindows, RENAME_RETRY_CODES } from "./_posix.ts";
import {
  fromPromises,
  missingAsNull,
  type OpTable,
  split,
  withNormalizedErrors,
} from "./_op_table.ts";
import {
  idsFromProc,
  OwnerIds,
  PermissionOverride,
  protectionsFromProc,
  type ReadText,
} from "./_proc.ts";
import { onUnload } from "./_exit_hooks.ts";
import { procWriters } from "./_writer_identity.ts";
import {
  bootTime,
  isProcessAlive,
  processIdentity,
  processStart,
} from "./_writer_identity.ts";
import { watchFileDeno as watchFile } from "./_watch_deno.ts";
import { aclRows } from "./_acl.ts";
import { loadDenoXattrs } from "./_libc_deno.ts";
import { exactStat, type Statx } from "./_statx_deno.ts";
import {
  exactId,
  idOfBigints,
  idOfNumbers,
  isExact,
  isUnknownId,
} from "./_file_id.ts";
import { descriptorRows, nameRows } from "./_fd_rows.ts";
import { onThisThread } from "./_deno_duplicates.ts";
import { lending } from "./_full_table.ts";
import { fileContent, readEntrySync, readWholeInTwo } from "./_read_whole.ts";
import { currentDirectory } from "./_current_directory.ts";
import { clearRepeat, setRepeat } from "../_clock.ts";

const codesByName: Record<string, string> = {
  NotFound: "ENOENT",
  AlreadyExists: "EEXIST",
  PermissionDenied: "EACCES",
  NotCapable: "EACCES",
  IsADirectory: "EISDIR",
  NotADirectory: "ENOTDIR",
  FilesystemLoop: "ELOOP",
  Busy: "EBUSY",
  InvalidData: "EINVAL",
  WriteZero: "EIO",
  UnexpectedEof: "EIO",
  Interrupted: "EINTR",
};

/**
 * The system call each operation on a descriptor makes, named as Node and
 * Bun name it: Deno's `node:fs` names it only for `open`.
 */
const SYSCALLS: Record<string, string> = {
  createExclusive: "open",
  reopen: "open",
  identify: "fstat",
  write: "write",
  sync: "fsync",
  chmod: "fchmod",
  chown: "fchown",
  close: "close",
  locate: "readlink",
  syncDir: "fsync",
  touch: "futime",
};

/**
 * `withCode` for the calls on a descriptor (`op`), with the system call
 * named; where Deno's `Busy` means a full descriptor table: its `node:fs`
 * makes an asynchronous call on a duplicate of the descriptor, and where
 * that fails with `EMFILE`, on the descriptor itself, which a call on this
 * thread meanwhile finds busy (`_deno_duplicates.ts`). Only an fsync is made
 * so here, and nothing is asked of its file on this thread until it is done
 * (two at once, on a directory several writes hold, wait for each other).
 */
function withDescriptorCode(error: unknown, op: string): unknown {
  if (error instanceof Error && error.name === "Busy" && !("code" in error)) {
    Object.assign(error, { code: "EMFILE" });
  }
  const named = (error as { syscall?: unknown } | null)?.syscall;
  if (error instanceof Error && named === undefined && SYSCALLS[op]) {
    Object.assign(error, { syscall: SYSCALLS[op] });
  }
  return withCode(error);
}

/**
 * `withCode` for the calls on a name (`op`): Deno's `node:fs` `unlink` of a
 * directory removes it if empty (which no other runtime does, and which
 * cannot be refused without a look that races), and fails with
 * `ENOTEMPTY` if not, where `unlink(2)` says `EISDIR`, as Node and Bun do.
 */
function withNameCode(error: unknown, op: string): unknown {
  const coded = withCode(error);
  if (op === "remove" && errorCode(coded) === "ENOTEMPTY") {
    Object.assign(coded as Error, {
      code: "EISDIR",
      errno: -(ERRNO_NUMBERS.get("EISDIR") ?? 21),
    });
  }
  return coded;
}

function withCode(error: unknown): unknown {
  if (!(error instanceof Error) || "code" in error) return error;
  const code = posixCode(error) ?? codesByName[error.name];
  if (code) Object.assign(error, { code });
  return error;
}

function info(stat: Deno.FileInfo): EntryInfo {
  return {
    kind: stat.isFile
      ? "file"
      : stat.isDirectory
      ? "directory"
      : stat.isSymlink
      ? "symlink"
      : stat.isFifo
      ? "fifo"
      : stat.isSocket
      ? "socket"
      : stat.isCharDevice
      ? "character device"
      : "block device",
    mode: (stat.mode ?? 0o666) & 0o7777,
    uid: stat.uid === null ? -1 : owners.uid(stat.uid),
    gid: stat.gid === null ? -1 : owners.gid(stat.gid),
    mtimeMs: stat.mtime?.getTime() ?? 0,
    size: stat.size,
    // Windows may know no inode: the device alone.
    id: stat.ino === null ? `${stat.dev}:` : idOfNumbers(stat.dev, stat.ino),
    links: stat.nlink ?? 1,
  };
}

/** `st_mode`'s file types (`S_IFMT`), as `EntryInfo.kind`s. */
const KINDS: ReadonlyMap<number, EntryInfo["kind"]> = new Map([
  [0o100000, "file"],
  [0o040000, "directory"],
  [0o120000, "symlink"],
  [0o010000, "fifo"],
  [0o140000, "socket"],
  [0o020000, "character device"],
  [0o060000, "block device"],
]);

/** The C library's `statx` as an entry, as `info` makes Deno's. */
function infoOfStatx(stat: Statx): EntryInfo {
  return {
    kind: KINDS.get(stat.mode & 0o170000) ?? "block device",
    mode: stat.mode & 0o7777,
    uid: owners.uid(stat.uid),
    gid: owners.gid(stat.gid),
    mtimeMs: stat.mtimeMs,
    size: stat.size,
    id: exactId(stat.dev, stat.ino),
    links: stat.nlink,
  };
}

/** Whether Deno's numbers for the file `stat` describes can be trusted to tell it (see `_file_id.ts`). */
const isTold = (stat: Deno.FileInfo): boolean =>
  isExact(stat.dev) && (stat.ino === null || isExact(stat.ino));

/**
 * The entry of `path` (a final link followed if `follow`), which Deno
 * described as `stat`; where Deno rounded its numbers, the C library's
 * `statx` of it instead, all of the entry from that one call (a mix of two
 * calls could describe two files), with `--allow-ffi` (`_statx_deno.ts`);
 * without it, or where `statx` is refused, an entry whose id equals none.
 */
function entrySync(
  stat: Deno.FileInfo,
  path: string,
  follow: boolean,
): EntryInfo {
  const exact = isTold(stat) ? null : exactStat()?.sync(path, follow);
  return exact ? infoOfStatx(exact) : info(stat);
}

/** `entrySync`, with the asynchronous `statx`. */
async function entryAsync(
  stat: Deno.FileInfo,
  path: string,
  follow: boolean,
): Promise<EntryInfo> {
  const exact = isTold(stat) ? null : await exactStat()?.async(path, follow);
  return exact ? infoOfStatx(exact) : info(stat);
}

const RECURSIVE: Deno.MkdirOptions = { recursive: true };
const name = (entry: Deno.DirEntry): string => entry.name;

const row = fromPromises(withCode);

const orNull = { recover: missingAsNull };

/**
 * `identify` on Deno, whose `node:fs` `fstat` gives numbers, rounded above
 * 2^53 (`_file_id.ts`): where they may have been, the C library's `statx`
 * of the open file itself (`/proc/self/fd/N`, which the kernel follows to
 * it), with `--allow-ffi`, as `entrySync` describes a path; without it, an
 * id that equals none.
 */
function identifyExactly(fd: number): string {
  const { dev, ino } = fs.fstatSync(fd, { bigint: true });
  const id = idOfBigints(dev, ino);
  if (!isUnknownId(id)) return id;
  const exact = exactStat()?.sync(`/proc/self/fd/${fd}`, true);
  return exact ? exactId(exact.dev, exact.ino) : id;
}

const descriptors = withNormalizedErrors(
  // `identify` runs on this thread (see `table`): its synchronous form only.
  {
    ...descriptorRows,
    identify: { ...descriptorRows.identify, sync: identifyExactly },
  },
  withDescriptorCode,
);

/** Each operation once: the synchronous call, the asynchronous call, what both do with the outcome. */
const table: OpTable<number> = {
  // The files the library creates and writes: real descriptors, through
  // Deno's `node:fs` (`_fd_rows.ts`), as on Node and Bun.
  // Each call Deno would make on a duplicate of the descriptor is made on
  // this thread instead, but an fsync, whose duplicate passes through the
  // table: an open that finds it full waits for it (`_deno_duplicates.ts`,
  // `_full_table.ts`).
  ...descriptors,
  sync: lending(descriptors.sync),
  syncDir: lending(descriptors.syncDir),
  chmod: onThisThread(descriptors.chmod),
  chown: onThisThread(descriptors.chown),
  touch: onThisThread(descriptors.touch),
  // As quick, and a burst's waiting writes each make one: no duplicate.
  identify: onThisThread(descriptors.identify),
  // Through the C library, with --allow-ffi only (`_libc_deno.ts`).
  ...aclRows(loadDenoXattrs),
  lstat: row(
    (path) => entrySync(Deno.lstatSync(path), path, false),
    async (path) => await entryAsync(await Deno.lstat(path), path, false),
    orNull,
  ),
  stat: row(
    (path) => entrySync(Deno.statSync(path), path, true),
    async (path) => await entryAsync(await Deno.stat(path), path, true),
    orNull,
  ),
  readLink: row(
    (path) => Deno.readLinkSync(path),
    (path) => Deno.readLink(path),
  ),
  mkdir: row(
    (path) => Deno.mkdirSync(path, RECURSIVE),
    (path) => Deno.mkdir(path, RECURSIVE),
  ),
  makeDirectory: row(
    (path, mode) => Deno.mkdirSync(path, { mode }),
    (path, mode) => Deno.mkdir(path, { mode }),
  ),
  rename: row(
    (from, to) => Deno.renameSync(from, to),
    (from, to) => Deno.rename(from, to),
  ),
  link: row(
    (from, to) => Deno.linkSync(from, to),
    (from, to) => Deno.link(from, to),
  ),
  ...withNormalizedErrors(nameRows, withNameCode),
  // Deno panics if closing the directory fails (README, "Runtime
  // differences"); node:fs's readdir and opendir on Deno do too.
  readDir: row(
    (path) => Array.from(Deno.readDirSync(path), name),
    (path) => Array.fromAsync(Deno.readDir(path), name),
  ),
  sleep: { sync: sleepSync, async: sleep },
  // Through `node:fs`, whose open can be non-blocking (a FIFO swapped in
  // for the file is refused, not read: see `_read_whole.ts`).
  readFile: row(
    (path) => {
      const { data, uid } = readEntrySync(path);
      return fileContent(data, uid, owners);
    },
    (path) =>
      new Promise((resolve, reject) =>
        readWholeInTwo(
          path,
          (error, data, uid) =>
            error ? reject(error) : resolve(fileContent(data, uid, owners)),
        )
      ),
    { recover: missingAsNull },
  ),
};

const { sync, async } = split(table);

const readText: ReadText = (path) => Deno.readTextFileSync(path);

/** The ids /proc gave, once read (`undefined`: not yet, or unreadable); `null`: Deno's permissions withhold /proc. */
let procIds: ProcessIds | null | undefined;

/** `readText`, which notes in `procIds` that the permissions withhold /proc. */
const readProc: ReadText = (path) => {
  try {
    return readText(path);
  } catch (error) {
    if (isWithheldPermission(error)) procIds = null;
    throw error;
  }
};

/** The effective ids when /proc gave `procIds` (`undefined`: not told). */
let readAs: string | undefined;

/**
 * The effective uid and gid, which `node:process`'s `setuid()` and kin
 * change on Deno too; asked only where /proc could be read (--allow-all,
 * which allows this too, so that it never prompts).
 */
function effectiveIds(): string | undefined {
  try {
    return `${process.geteuid?.()}:${process.getegid?.()}`;
  } catch {
    return undefined;
  }
}

/**
 * The ids the kernel checks this process's file accesses with: its
 * file-system ids, from /proc/self/status (which Deno reads only with
 * --allow-all), read again only when the effective ids have changed since
 * (`process.setuid()`: the file-system ids follow them). Else `Deno.uid()`
 * and `Deno.gid()` (--allow-sys): the real ids, the same but in a set-ID
 * process. Without either the owner is unknown: owners are left alone and
 * sticky directories trust only entries their owner made.
 */
function ids(): ProcessIds | null {
  if (procIds === undefined || (procIds && effectiveIds() !== readAs)) {
    procIds = undefined;
    procIds = idsFromProc(readProc) ?? procIds;
    if (procIds) readAs = effectiveIds();
  }
  if (procIds) return procIds;
  try {
    const uid = Deno.uid();
    const gid = Deno.gid();
    return uid === null || gid === null ? null : { uid, gid };
  } catch {
    return null;
  }
}

/** Owner ids as `info` gives them (see `OwnerIds`). */
const owners = new OwnerIds(readText);

/** `CAP_DAC_OVERRIDE`, as /proc tells (see `PermissionOverride`). */
const override = new PermissionOverride(readText);

// Deno reads /proc only with --allow-all; without it every writer is "unknown".
const writers = procWriters({
  readText: (path) => Deno.readTextFileSync(path),
  readLink: (path) => Deno.readLinkSync(path),
}, () => Deno.pid);

/** The adapter used when running on Deno. */
export const denoAdapter: RuntimeAdapter<number> = {
  name: "deno",
  sync,
  async,
  get pid() {
    return Deno.pid;
  },
  renameRetryCodes: RENAME_RETRY_CODES,
  ids,
  overridesPermissions: () => override.has(() => ids()?.uid === 0),
  protections: () => protectionsFromProc(readText),
  checkAccess: (path, access) => {
    // Deno keeps every answer it gives for a path, for good: asked per
    // path, a process that locks ever new files would grow without end.
    // Where `access` is granted everywhere (no list of paths), only a
    // `--deny-*` list could refuse the path, and the calls on it say so.
    if (Deno.permissions.querySync({ name: access }).state === "granted") {
      return;
    }
    if (
      Deno.permissions.requestSync({ name: access, path }).state !== "granted"
    ) {
      throw new Deno.errors.NotCapable(
        `Requires ${access} access to "${path}", run again with the --allow-${access} flag`,
      );
    }
  },
  currentDirectory: () =>
    currentDirectory((path) => entrySync(Deno.statSync(path), path, true).id),
  tmpDir: () => {
    // As Node's os.tmpdir(): the first variable set and not empty, without
    // a trailing separator.
    const names = isWindows ? ["TEMP", "TMP"] : ["TMPDIR", "TMP", "TEMP"];
    try {
      for (const name of names) {
        const dir = Deno.env.get(name);
        if (dir) return dir.length > 1 ? dir.replace(/[\\/]$/, "") : dir;
      }
    } catch (error) {
      // Not UTF-8 (InvalidData) is refused as on Node and Bun; without
      // --allow-env the variable cannot be read, and the default stands.
      if (!isWithheldPermission(error)) throw error;
    }
    return isWindows ? "C:\\Windows\\Temp" : "/tmp";
  },
  // Deno.kill takes no signal 0; the Node compatibility layer maps it to kill(pid, 0).
  ...writers,
  isProcessAlive,
  identity: processIdentity,
  processStart,
  bootTime,
  watchFile,
  repeat: (tick, ms) => {
    const timer = setRepeat(tick, ms);
    Deno.unrefTimer(timer);
    return () => clearRepeat(timer);
  },
  onExit: onUnload,
};
