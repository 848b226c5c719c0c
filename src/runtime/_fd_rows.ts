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
import { isWindows } from "./_posix.ts";
import type { DirectoryHandle } from "./types.ts";
import { idOfBigints } from "./_file_id.ts";
import { closing, withRoom } from "./_full_table.ts";

const { O_WRONLY, O_CREAT, O_EXCL, O_RDONLY } = fs.constants;
const O_DIRECTORY = fs.constants.O_DIRECTORY ?? 0;

const CREATE_EXCLUSIVE = O_WRONLY | O_CREAT | O_EXCL;
const REOPEN = (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0);
const OPEN_DIR = O_RDONLY | O_DIRECTORY;
const fdLink = (fd: number): string => `${FD_DIR}/${fd}`;
const seconds = (ms: number): number => ms / 1000;

const fsync = fromCallbacks(
  (fd: number) => fs.fsyncSync(fd),
  (fd) => (done) => fs.fsync(fd, done),
);
// Passing from the call until it is done: an open that finds the table
// full meanwhile waits for it (`_full_table.ts`).
const close = fromCallbacks(
  (fd: number) => fs.closeSync(fd),
  (fd) => (done) => closing(fd, done),
);
const openDir = fromCallbacks(
  (path: string) => fs.openSync(path, OPEN_DIR),
  (path) => (done) => fs.open(path, OPEN_DIR, done),
);

/** Whether names can be reached through /proc/self/fd here (`undefined`: not yet known). */
let throughProc: boolean | undefined;

/**
 * Whether this process can name files through /proc/self/fd, asked once:
 * Linux with /proc mounted, and a runtime that lets it (Deno only with
 * `--allow-all`; Node's permission model only where it grants /proc both
 * ways). Nothing here prompts: Deno refuses such paths without asking.
 */
function canNameThroughProc(): boolean {
  if (throughProc === undefined) {
    throughProc = false;
    if (!isWindows) {
      try {
        const permission = (process as {
          permission?: { has(scope: string, path: string): boolean };
        }).permission;
        throughProc = fs.statSync(FD_DIR).isDirectory() &&
          (permission === undefined ||
            permission.has("fs.read", FD_DIR) &&
              permission.has("fs.write", FD_DIR));
      } catch { /* no /proc, or the runtime will not let it be named */ }
    }
  }
  return throughProc;
}

const FD_DIR = "/proc/self/fd";

const BIG = { bigint: true } as const;

/**
 * The path in a /proc/self/fd link (`null`: none), which `locate` then
 * checks: a file on a file system unmounted lazily (`umount -l`) is named
 * there from that file system's own root, a path that here leads to
 * another file or to none.
 */
function linkedPath(bytes: Uint8Array): string | null {
  return pathInFdLink(exactName(bytes, "readlink"));
}

/**
 * Whether `named` (missing: `undefined`) is the file `open` describes;
 * not where the ids cannot be told (Deno's `bigint` stats are rounded
 * numbers, see `_file_id.ts`).
 */
function isSameFile(
  open: fs.BigIntStats,
  named: fs.BigIntStats | undefined,
): boolean {
  return named !== undefined &&
    idOfBigints(named.dev, named.ino) === idOfBigints(open.dev, open.ino);
}

/**
 * The row of `identify`: the open file's `fstat`, as an id by `idOf`
 * (`idOfBigints`, which trusts no number that may have been rounded, as
 * Deno's may; Node and Bun give exact ones: `exactId`).
 */
export function identifying(
  idOf: (dev: bigint, ino: bigint) => string,
): OpTable<number>["identify"] {
  return fromCallbacks(
    (fd: number) => fs.fstatSync(fd, BIG),
    (fd) => (done) => fs.fstat(fd, BIG, done),
    { result: (stat) => idOf(stat.dev, stat.ino) },
  );
}

/** `fd`, a directory, as a handle whose path leads to it. */
const handle = (fd: number): DirectoryHandle<number> => ({
  file: fd,
  path: fdLink(fd),
});

/**
 * The calls on a name through `node:fs`, on every runtime: the removals,
 * `rmdir(2)` itself, where Deno's own `remove` takes a file or an empty
 * directory alike, and would unlink a file or a link found where a queue
 * directory was expected (Deno's `node:fs` `unlink` takes an empty
 * directory too); and `lutimes`, which Deno's own API lacks (its `utime`
 * follows a link).
 */
export const nameRows: Pick<
  OpTable<number>,
  "remove" | "removeDir" | "touchName"
> = {
  remove: fromCallbacks(
    (path: string) => fs.unlinkSync(path),
    (path) => (done) => fs.unlink(path, done),
  ),
  removeDir: fromCallbacks(
    (path: string) => fs.rmdirSync(path),
    (path) => (done) => fs.rmdir(path, done),
  ),
  touchName: fromCallbacks(
    (path: string, mtimeMs: number) =>
      fs.lutimesSync(path, seconds(mtimeMs), seconds(mtimeMs)),
    (path, mtimeMs) => (done) =>
      fs.lutimes(path, seconds(mtimeMs), seconds(mtimeMs), done),
  ),
};

/** The rows of the operations on an open file, its creation, and a directory's fsync. */
export type DescriptorRows = Pick<
  OpTable<number>,
  | "createExclusive"
  | "reopen"
  | "identify"
  | "write"
  | "sync"
  | "chmod"
  | "chown"
  | "close"
  | "locate"
  | "syncDir"
  | "openDirectory"
  | "touch"
>;

/**
 * Each operation once, on descriptors: the synchronous call and the
 * callback call. An asynchronous open that finds the table full while a
 * descriptor of the library is on its way out waits for it, and tries
 * again (`_full_table.ts`).
 */
export const descriptorRows: DescriptorRows = {
  createExclusive: fromCallbacks(
    (path, mode) => fs.openSync(path, CREATE_EXCLUSIVE, mode),
    (path, mode) => (done) =>
      withRoom((opened) => fs.open(path, CREATE_EXCLUSIVE, mode, opened), done),
  ),
  reopen: fromCallbacks(
    (path: string, write: boolean) =>
      fs.openSync(path, REOPEN | (write ? O_WRONLY : O_RDONLY)),
    (path, write) => (done) =>
      withRoom(
        (opened) =>
          fs.open(path, REOPEN | (write ? O_WRONLY : O_RDONLY), opened),
        done,
      ),
  ),
  identify: identifying(idOfBigints),
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
    (fd: number) => {
      const path = linkedPath(fs.readlinkSync(fdLink(fd), AS_BYTES));
      if (path === null) return null;
      const named = fs.lstatSync(path, { bigint: true, throwIfNoEntry: false });
      return isSameFile(fs.statSync(fdLink(fd), BIG), named) ? path : null;
    },
    (fd) => (done) =>
      fs.readlink(fdLink(fd), AS_BYTES, (error, bytes) => {
        let path: string | null = null;
        try {
          if (error) throw error;
          path = linkedPath(bytes);
        } catch (failed) {
          return done(failed as Error, null);
        }
        if (path === null) return done(null, null);
        fs.stat(fdLink(fd), BIG, (error, open) => {
          if (error) return done(error, null);
          fs.lstat(path, BIG, (error, named) => {
            done(null, !error && isSameFile(open, named) ? path : null);
          });
        });
      }),
    // A path that is not UTF-8 cannot be named: unknown, as no path.
    { recover: () => null },
  ),
  syncDir: dirSync(openDir, fsync, close),
  openDirectory: fromCallbacks(
    (path: string) =>
      canNameThroughProc() ? handle(fs.openSync(path, OPEN_DIR)) : null,
    (path) => (done) =>
      canNameThroughProc()
        ? withRoom<number>(
          (opened) => fs.open(path, OPEN_DIR, opened),
          (error, fd) => done(error, handle(fd)),
        )
        : done(null, null),
  ),
  touch: fromCallbacks(
    (fd, mtimeMs) => fs.futimesSync(fd, seconds(mtimeMs), seconds(mtimeMs)),
    (fd, mtimeMs) => (done) =>
      fs.futimes(fd, seconds(mtimeMs), seconds(mtimeMs), done),
  ),
};
