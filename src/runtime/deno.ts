/**
 * The Deno adapter, on Deno's own file APIs (`Deno.open`, `FsFile.sync`,
 * `Deno.rename`, …). Deno errors already carry a POSIX `code` in most cases;
 * the few that do not (`NotCapable`, errors raised before any system call)
 * get one here, so the algorithm sees the same codes as on Node and Bun.
 */
import type { EntryInfo, ProcessIds, RuntimeAdapter } from "./types.ts";
import { sleep, sleepSync } from "./_sleep.ts";
import { isWithheldPermission, posixCode } from "./_errno.ts";
import { isWindows, RENAME_RETRY_CODES } from "./_posix.ts";
import {
  dirSync,
  fromPromises,
  missingAsNull,
  type OpTable,
  split,
} from "./_op_table.ts";
import { idsFromProc, protectionsFromProc, type ReadText } from "./_proc.ts";
import { onUnload } from "./_exit_hooks.ts";
import { pathInFdLink } from "./_proc_fd.ts";
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
import { onOpenFile } from "./_deno_descriptor.ts";
import fs from "node:fs";

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

function withCode(error: unknown): unknown {
  if (!(error instanceof Error) || "code" in error) return error;
  const code = posixCode(error) ?? codesByName[error.name];
  if (code) Object.assign(error, { code });
  // A missing permission names the flag to grant: that goes into the
  // library's message (see `AdapterError.reason`).
  if (isWithheldPermission(error)) {
    Object.assign(error, { reason: error.message });
  }
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
    uid: stat.uid ?? -1,
    gid: stat.gid ?? -1,
    mtimeMs: stat.mtime?.getTime() ?? 0,
    size: stat.size,
    id: `${stat.dev}:${stat.ino ?? ""}`,
  };
}

function owner(id: number): number | null {
  return id < 0 ? null : id;
}

const RECURSIVE: Deno.MkdirOptions = { recursive: true };
const READ: Deno.OpenOptions = { read: true };
const name = (entry: Deno.DirEntry): string => entry.name;

const createOptions = (mode: number): Deno.OpenOptions => ({
  write: true,
  createNew: true,
  mode,
});

/**
 * Where an open `FsFile` is now: Deno hides the descriptor, so the one in
 * /proc/self/fd with the same device and inode is found by comparing (a
 * failure path only; /proc needs `--allow-all`). `null` if not found.
 */
function locateFsFile(file: Deno.FsFile): string | null {
  try {
    const { dev, ino } = file.statSync();
    for (const entry of Deno.readDirSync("/proc/self/fd")) {
      const fd = `/proc/self/fd/${entry.name}`;
      try {
        const other = Deno.statSync(fd);
        if (other.dev !== dev || other.ino !== ino) continue;
        return pathInFdLink(Deno.readLinkSync(fd));
      } catch { /* closed meanwhile, or not a file */ }
    }
  } catch { /* no /proc, or no permission */ }
  return null;
}

const row = fromPromises(withCode);

const fsync = row(
  (file: Deno.FsFile) => file.syncSync(),
  (file) => file.sync(),
);
// Closing is synchronous in Deno: the asynchronous form runs it.
const close = row((file: Deno.FsFile) => file.close());
const openDir = row(
  (path: string) => Deno.openSync(path, READ),
  (path) => Deno.open(path, READ),
);
const entryOrNull = { result: info, recover: missingAsNull };
const acl = aclRows(loadDenoXattrs);

/** Each operation once: the synchronous call, the asynchronous call, what both do with the outcome. */
const table: OpTable<Deno.FsFile> = {
  lstat: row(
    (path) => Deno.lstatSync(path),
    (path) => Deno.lstat(path),
    entryOrNull,
  ),
  stat: row(
    (path) => Deno.statSync(path),
    (path) => Deno.stat(path),
    entryOrNull,
  ),
  readLink: row(
    (path) => Deno.readLinkSync(path),
    (path) => Deno.readLink(path),
  ),
  mkdir: row(
    (path) => Deno.mkdirSync(path, RECURSIVE),
    (path) => Deno.mkdir(path, RECURSIVE),
  ),
  createExclusive: row(
    (path, mode) => Deno.openSync(path, createOptions(mode)),
    (path, mode) => Deno.open(path, createOptions(mode)),
  ),
  write: row(
    (file, bytes) => file.writeSync(bytes),
    (file, bytes) => file.write(bytes),
  ),
  sync: fsync,
  // On a descriptor of the file's own, never through a link put at its
  // name (`_deno_descriptor.ts`); Windows has neither links to fear here nor
  // owners, and keeps Deno's calls by path.
  chmod: isWindows
    ? row(
      (_file, path, mode) => Deno.chmodSync(path, mode),
      (_file, path, mode) => Deno.chmod(path, mode),
    )
    : row((file: Deno.FsFile, path: string, mode: number) =>
      onOpenFile(file, path, (fd) => fs.fchmodSync(fd, mode))
    ),
  chown: isWindows
    ? row(
      (_file, path, uid, gid) => Deno.chownSync(path, owner(uid), owner(gid)),
      (_file, path, uid, gid) => Deno.chown(path, owner(uid), owner(gid)),
    )
    : row((file: Deno.FsFile, path: string, uid: number, gid: number) =>
      onOpenFile(file, path, (fd) => fs.fchownSync(fd, uid, gid))
    ),
  // Through the C library, with --allow-ffi only (`_libc_deno.ts`).
  readAcl: acl.readAcl,
  writeAcl: row((file: Deno.FsFile, path: string, value: Uint8Array | null) =>
    onOpenFile(file, path, (fd) => acl.writeAcl.sync(fd, path, value))
  ),
  close,
  rename: row(
    (from, to) => Deno.renameSync(from, to),
    (from, to) => Deno.rename(from, to),
  ),
  link: row(
    (from, to) => Deno.linkSync(from, to),
    (from, to) => Deno.link(from, to),
  ),
  remove: row((path) => Deno.removeSync(path), (path) => Deno.remove(path)),
  removeDir: row((path) => Deno.removeSync(path), (path) => Deno.remove(path)),
  // Synchronous only (a failure path): the asynchronous form runs it.
  locate: row((file) => locateFsFile(file)),
  syncDir: dirSync(openDir, fsync, close),
  readDir: row(
    (path) => Array.from(Deno.readDirSync(path), name),
    (path) => Array.fromAsync(Deno.readDir(path), name),
  ),
  sleep: { sync: sleepSync, async: sleep },
  readFile: row(
    (path) => Deno.readFileSync(path),
    (path) => Deno.readFile(path),
    { recover: missingAsNull },
  ),
  touch: row(
    (file, mtimeMs) => file.utimeSync(new Date(mtimeMs), new Date(mtimeMs)),
    (file, mtimeMs) => file.utime(new Date(mtimeMs), new Date(mtimeMs)),
  ),
};

const { sync, async } = split(table);

const readText: ReadText = (path) => Deno.readTextFileSync(path);

/** Without --allow-sys: the ids from /proc, read once (`undefined`: not yet). */
let idsWithoutSys: ProcessIds | null | undefined;

/**
 * Deno.uid() needs --allow-sys; /proc/self/status, the fallback, needs
 * --allow-all on Deno. Without either the owner is unknown: owners are left
 * alone and sticky directories trust only entries their owner made.
 */
function ids(): ProcessIds | null {
  if (idsWithoutSys === undefined) {
    try {
      const uid = Deno.uid();
      const gid = Deno.gid();
      return uid === null || gid === null ? null : { uid, gid };
    } catch {
      idsWithoutSys = idsFromProc(readText);
    }
  }
  return idsWithoutSys;
}

// Deno reads /proc only with --allow-all; without it every writer is "unknown".
const writers = procWriters({
  readText: (path) => Deno.readTextFileSync(path),
  readLink: (path) => Deno.readLinkSync(path),
}, () => Deno.pid);

/** The adapter used when running on Deno. */
export const denoAdapter: RuntimeAdapter<Deno.FsFile> = {
  name: "deno",
  sync,
  async,
  get pid() {
    return Deno.pid;
  },
  renameRetryCodes: RENAME_RETRY_CODES,
  ids,
  protections: () => protectionsFromProc(readText),
  tmpDir: () => {
    try {
      return Deno.env.get(isWindows ? "TEMP" : "TMPDIR") ??
        (isWindows ? "C:\\Windows\\Temp" : "/tmp");
    } catch {
      return isWindows ? "C:\\Windows\\Temp" : "/tmp";
    }
  },
  // Deno.kill takes no signal 0; the Node compatibility layer maps it to kill(pid, 0).
  ...writers,
  isProcessAlive,
  identity: processIdentity,
  processStart,
  bootTime,
  watchFile,
  repeat: (tick, ms) => {
    const timer = setInterval(tick, ms);
    Deno.unrefTimer(timer);
    return () => clearInterval(timer);
  },
  onExit: onUnload,
};
