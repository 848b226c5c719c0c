/**
 * The adapter built on `node:fs` file descriptors. Node uses it as it is;
 * Bun, whose `node:fs` is its own native implementation, uses it too (see
 * `bun.ts`). Callback-style calls are wrapped by hand: they cost one thread
 * pool round trip each, less than `fs.promises` and its `FileHandle` objects.
 */
import fs from "node:fs";
import os from "node:os";
import process from "node:process";
import type {
  AsyncFsOps,
  EntryInfo,
  FsOps,
  OpenFile,
  ProcessIds,
  RuntimeAdapter,
} from "./types.ts";
import { sleep, sleepSync } from "./_sleep.ts";
import { protectionsFromProc, type ReadText } from "./_proc.ts";
import { isProcessAlive } from "./_process_alive.ts";
import { errorCode } from "../_error_code.ts";

const { O_WRONLY, O_CREAT, O_EXCL, O_RDONLY } = fs.constants;
const O_DIRECTORY = fs.constants.O_DIRECTORY ?? 0;
const isWindows = process.platform === "win32";

function info(stat: fs.Stats): EntryInfo {
  return {
    kind: stat.isFile()
      ? "file"
      : stat.isDirectory()
      ? "directory"
      : stat.isSymbolicLink()
      ? "symlink"
      : stat.isFIFO()
      ? "fifo"
      : stat.isSocket()
      ? "socket"
      : stat.isCharacterDevice()
      ? "character device"
      : "block device",
    mode: stat.mode & 0o7777,
    uid: isWindows ? -1 : stat.uid,
    gid: isWindows ? -1 : stat.gid,
    mtimeMs: stat.mtimeMs,
  };
}

/** Some file systems (and Windows) cannot fsync a directory; that is not a failure. */
function isDirSyncUnsupported(error: unknown): boolean {
  const code = errorCode(error);
  return code === "EINVAL" || code === "ENOTSUP" || code === "EISDIR";
}

function call<T>(
  start: (done: (error: Error | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) =>
    start((error, value) => error ? reject(error) : resolve(value as T))
  );
}

const sync: FsOps = {
  lstat: (path) => {
    const stat = fs.lstatSync(path, { throwIfNoEntry: false });
    return stat ? info(stat) : null;
  },
  stat: (path) => {
    try {
      return info(fs.statSync(path));
    } catch (error) {
      // Not `throwIfNoEntry: false`, which hides ENOTDIR too.
      if (errorCode(error) === "ENOENT") return null;
      throw error;
    }
  },
  readLink: (path) => fs.readlinkSync(path),
  mkdir: (path) => void fs.mkdirSync(path, { recursive: true }),
  createExclusive: (path, mode) =>
    fs.openSync(path, O_WRONLY | O_CREAT | O_EXCL, mode),
  write: (fd, bytes) => fs.writeSync(fd as number, bytes, 0, bytes.byteLength),
  sync: (fd) => fs.fsyncSync(fd as number),
  chmod: (fd, _path, mode) => fs.fchmodSync(fd as number, mode),
  chown: (fd, _path, uid, gid) => fs.fchownSync(fd as number, uid, gid),
  close: (fd) => fs.closeSync(fd as number),
  rename: (from, to) => fs.renameSync(from, to),
  link: (from, to) => fs.linkSync(from, to),
  remove: (path) => fs.unlinkSync(path),
  locate: (file) => {
    try {
      return pathInFdLink(fs.readlinkSync(`/proc/self/fd/${file as number}`));
    } catch {
      return null;
    }
  },
  syncDir: (path) => {
    if (isWindows) return;
    const fd = fs.openSync(path, O_RDONLY | O_DIRECTORY);
    try {
      fs.fsyncSync(fd);
    } catch (error) {
      if (!isDirSyncUnsupported(error)) throw error;
    } finally {
      fs.closeSync(fd);
    }
  },
  readDir: (path) => fs.readdirSync(path),
  sleep: sleepSync,
};

const async: AsyncFsOps = {
  lstat: (path) =>
    call<fs.Stats>((done) => fs.lstat(path, done)).then(info, (error) => {
      if (error.code === "ENOENT") return null;
      throw error;
    }),
  stat: (path) =>
    call<fs.Stats>((done) => fs.stat(path, done)).then(info, (error) => {
      if (error.code === "ENOENT") return null;
      throw error;
    }),
  readLink: (path) => call((done) => fs.readlink(path, done)),
  mkdir: (path) =>
    call<string | undefined>((done) =>
      fs.mkdir(path, { recursive: true }, done)
    ).then(() => {}),
  createExclusive: (path, mode) =>
    call<OpenFile>((done) =>
      fs.open(path, O_WRONLY | O_CREAT | O_EXCL, mode, done)
    ),
  write: (fd, bytes) =>
    call((done) =>
      fs.write(fd as number, bytes, 0, bytes.byteLength, null, done)
    ),
  sync: (fd) => call((done) => fs.fsync(fd as number, done)),
  chmod: (fd, _path, mode) =>
    call((done) => fs.fchmod(fd as number, mode, done)),
  chown: (fd, _path, uid, gid) =>
    call((done) => fs.fchown(fd as number, uid, gid, done)),
  close: (fd) => call((done) => fs.close(fd as number, done)),
  rename: (from, to) => call((done) => fs.rename(from, to, done)),
  link: (from, to) => call((done) => fs.link(from, to, done)),
  remove: (path) => call((done) => fs.unlink(path, done)),
  locate: (file) =>
    new Promise((resolve) =>
      fs.readlink(
        `/proc/self/fd/${file as number}`,
        (error, link) => resolve(error ? null : pathInFdLink(link)),
      )
    ),
  syncDir: async (path) => {
    if (isWindows) return;
    const fd = await call<number>((done) =>
      fs.open(path, O_RDONLY | O_DIRECTORY, done)
    );
    try {
      await call((done) => fs.fsync(fd, done));
    } catch (error) {
      if (!isDirSyncUnsupported(error)) throw error;
    } finally {
      await call((done) => fs.close(fd, done));
    }
  },
  readDir: (path) => call((done) => fs.readdir(path, done)),
  sleep,
};

const readText: ReadText = (path) => fs.readFileSync(path, "latin1");

const exitSignals = isWindows
  ? ["SIGINT"] as const
  : ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** Builds the `node:fs` adapter under the given runtime name. */
export function createNodeFsAdapter(name: string): RuntimeAdapter {
  return {
    name,
    sync,
    async,
    pid: process.pid,
    // Windows: virus scanners and indexers hold files briefly (EPERM, EBUSY, EACCES).
    renameRetryCodes: new Set(isWindows ? ["EPERM", "EBUSY", "EACCES"] : []),
    ids: (): ProcessIds | null =>
      isWindows || !process.geteuid || !process.getegid
        ? null
        : { uid: process.geteuid(), gid: process.getegid() },
    protections: () => protectionsFromProc(readText),
    tmpDir: () => os.tmpdir(),
    ...writers,
    onExit: onProcessExit,
  };
}
