/**
 * The Deno adapter, on Deno's own file APIs (`Deno.open`, `FsFile.sync`,
 * `Deno.rename`, …). Deno errors already carry a POSIX `code` in most cases;
 * the few that do not (`NotCapable`, errors raised before any system call)
 * get one here, so the algorithm sees the same codes as on Node and Bun.
 */
import type {
  AsyncFsOps,
  EntryInfo,
  FsOps,
  ProcessIds,
  RuntimeAdapter,
} from "./types.ts";
import { sleep, sleepSync } from "./_sleep.ts";
import { posixCode } from "./_errno.ts";
import {
  isDirSyncUnsupported,
  isWindows,
  RENAME_RETRY_CODES,
} from "./_posix.ts";
import { idsFromProc, protectionsFromProc, type ReadText } from "./_proc.ts";
import { onUnload } from "./_exit_hooks.ts";
import { pathInFdLink } from "./_proc_fd.ts";
import { procWriters } from "./_writer_identity.ts";
import {
  isProcessAlive,
  processIdentity,
  processStart,
} from "./_writer_identity.ts";
import { watchDir } from "./_watch.ts";

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
  if (error.name === "NotCapable") {
    Object.assign(error, { reason: error.message });
  }
  return error;
}

function syncWithCodes<F>(ops: FsOps<F>): FsOps<F> {
  const wrapped: Record<string, unknown> = {};
  for (const [name, op] of Object.entries(ops)) {
    wrapped[name] = (...args: unknown[]) => {
      try {
        return (op as (...a: unknown[]) => unknown)(...args);
      } catch (error) {
        throw withCode(error);
      }
    };
  }
  return wrapped as unknown as FsOps<F>;
}

function asyncWithCodes<F>(ops: AsyncFsOps<F>): AsyncFsOps<F> {
  const wrapped: Record<string, unknown> = {};
  for (const [name, op] of Object.entries(ops)) {
    const rethrow = (error: unknown) => {
      throw withCode(error);
    };
    wrapped[name] = (...args: unknown[]) => {
      try {
        return (op as (...a: unknown[]) => Promise<unknown>)(...args).catch(
          rethrow,
        );
      } catch (error) {
        return Promise.reject(withCode(error));
      }
    };
  }
  return wrapped as unknown as AsyncFsOps<F>;
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
    id: `${stat.dev}:${stat.ino ?? ""}`,
  };
}

/** What `read()` gives, or `null` where there is no such file. */
function orNull<T>(read: () => T): T | null {
  try {
    return read();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** The asynchronous {@linkcode orNull}. */
function orNullAsync<T>(read: () => Promise<T>): Promise<T | null> {
  return read().catch((error) => {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  });
}

function owner(id: number): number | null {
  return id < 0 ? null : id;
}

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

const sync: FsOps<Deno.FsFile> = syncWithCodes({
  lstat: (path) => orNull(() => info(Deno.lstatSync(path))),
  stat: (path) => orNull(() => info(Deno.statSync(path))),
  readLink: (path) => Deno.readLinkSync(path),
  mkdir: (path) => Deno.mkdirSync(path, { recursive: true }),
  createExclusive: (path, mode) => Deno.openSync(path, createOptions(mode)),
  write: (file, bytes) => file.writeSync(bytes),
  sync: (file) => file.syncSync(),
  chmod: (_file, path, mode) => Deno.chmodSync(path, mode),
  chown: (_file, path, uid, gid) =>
    Deno.chownSync(path, owner(uid), owner(gid)),
  close: (file) => file.close(),
  rename: (from, to) => Deno.renameSync(from, to),
  link: (from, to) => Deno.linkSync(from, to),
  remove: (path) => Deno.removeSync(path),
  locate: (file) => locateFsFile(file),
  syncDir: (path) => {
    if (isWindows) return;
    const dir = Deno.openSync(path, { read: true });
    try {
      dir.syncSync();
    } catch (error) {
      if (!isDirSyncUnsupported(error)) throw error;
    } finally {
      dir.close();
    }
  },
  readDir: (path) => Array.from(Deno.readDirSync(path), (entry) => entry.name),
  sleep: sleepSync,
  readFile: (path) => orNull(() => Deno.readFileSync(path)),
  touch: (file, mtimeMs) =>
    file.utimeSync(new Date(mtimeMs), new Date(mtimeMs)),
});

const async: AsyncFsOps<Deno.FsFile> = asyncWithCodes({
  lstat: (path) => orNullAsync(() => Deno.lstat(path).then(info)),
  stat: (path) => orNullAsync(() => Deno.stat(path).then(info)),
  readLink: (path) => Deno.readLink(path),
  mkdir: (path) => Deno.mkdir(path, { recursive: true }),
  createExclusive: (path, mode) => Deno.open(path, createOptions(mode)),
  write: (file, bytes) => file.write(bytes),
  sync: (file) => file.sync(),
  chmod: (_file, path, mode) => Deno.chmod(path, mode),
  chown: (_file, path, uid, gid) => Deno.chown(path, owner(uid), owner(gid)),
  // Closing is synchronous in Deno; a throw becomes a rejection in the wrapper.
  close: (file) => Promise.resolve(file.close()),
  rename: (from, to) => Deno.rename(from, to),
  link: (from, to) => Deno.link(from, to),
  remove: (path) => Deno.remove(path),
  locate: (file) => Promise.resolve(locateFsFile(file)),
  syncDir: async (path) => {
    if (isWindows) return;
    const dir = await Deno.open(path, { read: true });
    try {
      await dir.sync();
    } catch (error) {
      if (!isDirSyncUnsupported(error)) throw error;
    } finally {
      dir.close();
    }
  },
  readDir: async (path) => {
    const names: string[] = [];
    for await (const entry of Deno.readDir(path)) names.push(entry.name);
    return names;
  },
  sleep,
  readFile: (path) => orNullAsync(() => Deno.readFile(path)),
  touch: (file, mtimeMs) => file.utime(new Date(mtimeMs), new Date(mtimeMs)),
});

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
  watchDir,
  repeat: (tick, ms) => {
    const timer = setInterval(tick, ms);
    Deno.unrefTimer(timer);
    return () => clearInterval(timer);
  },
  onExit: onUnload,
};
