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
  ProcessIds,
  RuntimeAdapter,
} from "./types.ts";
import { sleep, sleepSync } from "./_sleep.ts";
import { protectionsFromProc, type ReadText } from "./_proc.ts";
import { onProcessExit } from "./_exit_hooks.ts";
import { pathInFdLink } from "./_proc_fd.ts";
import { procWriters } from "./_writer_identity.ts";
import {
  isProcessAlive,
  processIdentity,
  processStart,
} from "./_writer_identity.ts";
import { watchDir } from "./_watch.ts";
import { errorCode } from "../_error_code.ts";
import {
  isDirSyncUnsupported,
  isWindows,
  RENAME_RETRY_CODES,
} from "./_posix.ts";

const { O_WRONLY, O_CREAT, O_EXCL, O_RDONLY } = fs.constants;
const O_DIRECTORY = fs.constants.O_DIRECTORY ?? 0;

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
    id: `${stat.dev}:${stat.ino}`,
  };
}

function call<T>(
  start: (done: (error: Error | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise((resolve, reject) =>
    start((error, value) => error ? reject(error) : resolve(value as T))
  );
}

const sync: FsOps<number> = {
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
  write: (fd, bytes) => fs.writeSync(fd, bytes, 0, bytes.byteLength),
  sync: (fd) => fs.fsyncSync(fd),
  chmod: (fd, _path, mode) => fs.fchmodSync(fd, mode),
  chown: (fd, _path, uid, gid) => fs.fchownSync(fd, uid, gid),
  close: (fd) => fs.closeSync(fd),
  rename: (from, to) => fs.renameSync(from, to),
  link: (from, to) => fs.linkSync(from, to),
  remove: (path) => fs.unlinkSync(path),
  locate: (file) => {
    try {
      return pathInFdLink(fs.readlinkSync(`/proc/self/fd/${file}`));
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
  readFile: (path) => {
    try {
      return fs.readFileSync(path);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return null;
      throw error;
    }
  },
  touch: (fd, mtimeMs) =>
    fs.futimesSync(fd as number, mtimeMs / 1000, mtimeMs / 1000),
};

const async: AsyncFsOps<number> = {
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
    call<number>((done) =>
      fs.open(path, O_WRONLY | O_CREAT | O_EXCL, mode, done)
    ),
  write: (fd, bytes) =>
    call((done) => fs.write(fd, bytes, 0, bytes.byteLength, null, done)),
  sync: (fd) => call((done) => fs.fsync(fd, done)),
  chmod: (fd, _path, mode) => call((done) => fs.fchmod(fd, mode, done)),
  chown: (fd, _path, uid, gid) => call((done) => fs.fchown(fd, uid, gid, done)),
  close: (fd) => call((done) => fs.close(fd, done)),
  rename: (from, to) => call((done) => fs.rename(from, to, done)),
  link: (from, to) => call((done) => fs.link(from, to, done)),
  remove: (path) => call((done) => fs.unlink(path, done)),
  locate: (file) =>
    new Promise((resolve) =>
      fs.readlink(
        `/proc/self/fd/${file}`,
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
  readFile: (path) =>
    call<Uint8Array>((done) => fs.readFile(path, done)).catch((error) => {
      if (errorCode(error) === "ENOENT") return null;
      throw error;
    }),
  touch: (fd, mtimeMs) =>
    call((done) =>
      fs.futimes(fd as number, mtimeMs / 1000, mtimeMs / 1000, done)
    ),
};

const readText: ReadText = (path) => fs.readFileSync(path, "latin1");

const writers = procWriters({
  readText,
  readLink: (path) => fs.readlinkSync(path),
}, () => process.pid);

/** Builds the `node:fs` adapter under the given runtime name. */
export function createNodeFsAdapter(name: string): RuntimeAdapter<number> {
  return {
    name,
    sync,
    async,
    pid: process.pid,
    renameRetryCodes: RENAME_RETRY_CODES,
    ids: (): ProcessIds | null =>
      isWindows || !process.geteuid || !process.getegid
        ? null
        : { uid: process.geteuid(), gid: process.getegid() },
    protections: () => protectionsFromProc(readText),
    tmpDir: () => os.tmpdir(),
    ...writers,
    isProcessAlive,
    identity: processIdentity,
    processStart,
    watchDir,
    repeat: (tick, ms) => {
      const timer = setInterval(tick, ms);
      timer.unref();
      return () => clearInterval(timer);
    },
    onExit: onProcessExit,
  };
}
