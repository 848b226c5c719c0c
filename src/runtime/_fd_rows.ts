/**
 * The operations on an open file held as a `node:fs` descriptor, which
 * every runtime has: Node and Bun for every file, Deno for the files the
 * library creates and writes (its own `FsFile` hides the descriptor, and
 * with it `fchmod`, `fchown` and `fsetxattr`, so that those could only be
 * made by path, following whatever another user may have put at the
 * name). Callback-style calls are wrapped by hand: they cost one thread
 * pool round trip each, less than `fs.promises` and its `FileHandle`
 * objects.
 *
 * @module
 */
import fs from "node:fs";
import { pathInFdLink } from "./_proc_fd.ts";
import { AS_BYTES, exactName } from "./_exact_name.ts";
import { dirSync, fromCallbacks, type OpTable } from "./_op_table.ts";

const { O_WRONLY, O_CREAT, O_EXCL, O_RDONLY } = fs.constants;
const O_DIRECTORY = fs.constants.O_DIRECTORY ?? 0;

const CREATE_EXCLUSIVE = O_WRONLY | O_CREAT | O_EXCL;
const OPEN_DIR = O_RDONLY | O_DIRECTORY;
const fdLink = (fd: number): string => `/proc/self/fd/${fd}`;
const seconds = (ms: number): number => ms / 1000;

const fsync = fromCallbacks(
  (fd: number) => fs.fsyncSync(fd),
  (fd) => (done) => fs.fsync(fd, done),
);
const close = fromCallbacks(
  (fd: number) => fs.closeSync(fd),
  (fd) => (done) => fs.close(fd, done),
);
const openDir = fromCallbacks(
  (path: string) => fs.openSync(path, OPEN_DIR),
  (path) => (done) => fs.open(path, OPEN_DIR, done),
);

/**
 * The removals through `node:fs`, on every runtime: `rmdir(2)` itself, where
 * Deno's own `remove` takes a file or an empty directory alike, and would
 * unlink a file or a link found where a queue directory was expected.
 * (Deno's `node:fs` `unlink` takes an empty directory too.)
 */
export const removalRows: Pick<OpTable<number>, "remove" | "removeDir"> = {
  remove: fromCallbacks(
    (path: string) => fs.unlinkSync(path),
    (path) => (done) => fs.unlink(path, done),
  ),
  removeDir: fromCallbacks(
    (path: string) => fs.rmdirSync(path),
    (path) => (done) => fs.rmdir(path, done),
  ),
};

/** The rows of the operations on an open file, its creation, and a directory's fsync. */
export type DescriptorRows = Pick<
  OpTable<number>,
  | "createExclusive"
  | "write"
  | "sync"
  | "chmod"
  | "chown"
  | "close"
  | "locate"
  | "syncDir"
  | "touch"
>;

/** Each operation once, on descriptors: the synchronous call and the callback call. */
export const descriptorRows: DescriptorRows = {
  createExclusive: fromCallbacks(
    (path, mode) => fs.openSync(path, CREATE_EXCLUSIVE, mode),
    (path, mode) => (done) => fs.open(path, CREATE_EXCLUSIVE, mode, done),
  ),
  write: fromCallbacks(
    (fd, bytes) => fs.writeSync(fd, bytes, 0, bytes.byteLength),
    (fd, bytes) => (done) =>
      fs.write(fd, bytes, 0, bytes.byteLength, null, done),
  ),
  sync: fsync,
  chmod: fromCallbacks(
    (fd, _path, mode) => fs.fchmodSync(fd, mode),
    (fd, _path, mode) => (done) => fs.fchmod(fd, mode, done),
  ),
  chown: fromCallbacks(
    (fd, _path, uid, gid) => fs.fchownSync(fd, uid, gid),
    (fd, _path, uid, gid) => (done) => fs.fchown(fd, uid, gid, done),
  ),
  close,
  locate: fromCallbacks(
    (fd) => fs.readlinkSync(fdLink(fd), AS_BYTES),
    (fd) => (done) => fs.readlink(fdLink(fd), AS_BYTES, done),
    {
      // A path that is not UTF-8 cannot be named: unknown, as no path.
      result: (bytes) => pathInFdLink(exactName(bytes, "readlink")),
      recover: () => null,
    },
  ),
  syncDir: dirSync(openDir, fsync, close),
  touch: fromCallbacks(
    (fd, mtimeMs) => fs.futimesSync(fd, seconds(mtimeMs), seconds(mtimeMs)),
    (fd, mtimeMs) => (done) =>
      fs.futimes(fd, seconds(mtimeMs), seconds(mtimeMs), done),
  ),
};
