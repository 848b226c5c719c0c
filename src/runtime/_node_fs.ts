/**
 * The adapter built on `node:fs` file descriptors. Node uses it as it is;
 * Bun, whose `node:fs` is its own native implementation, uses it too (see
 * `bun.ts`). Callback-style calls are wrapped by hand: one thread-pool round
 * trip each. The operations on open files are `_fd_rows.ts`'s, which Deno
 * shares.
 */
import fs from "node:fs";
import { dirname } from "node:path";
import os from "node:os";
import process from "node:process";
import type { EntryInfo, ProcessIds, RuntimeAdapter } from "./types.ts";
import { sleep, sleepSync } from "./_sleep.ts";
import { fileContent, readEntrySync, type ReadWhole } from "./_read_whole.ts";
import { currentDirectory } from "./_current_directory.ts";
import {
  OwnerIds,
  PermissionOverride,
  protectionsFromProc,
  type ReadText,
} from "./_proc.ts";
import { onProcessExit } from "./_exit_hooks.ts";
import { procWriters } from "./_writer_identity.ts";
import {
  bootTime,
  isProcessAlive,
  processIdentity,
  processStart,
} from "./_writer_identity.ts";
import { watchFile } from "./_watch.ts";
import { isWindows, RENAME_RETRY_CODES } from "./_posix.ts";
import { descriptorRows, identifying, nameRows } from "./_fd_rows.ts";
import { exactId } from "./_file_id.ts";
import { AS_BYTES, checkTemporaryDirectory, exactName } from "./_exact_name.ts";
import {
  fromCallbacks,
  missingAsNull,
  type OpTable,
  split,
} from "./_op_table.ts";
import { aclRows, type Xattrs } from "./_acl.ts";
import { errorCode } from "../_error_code.ts";
import { clearRepeat, setRepeat } from "../_clock.ts";

/** Nanoseconds in a millisecond. */
const MS_IN_NS = 1_000_000n;

/**
 * A `bigint` stat as the contract's entry: with `{ bigint: true }`, so
 * that its `id` is exact (see `_file_id.ts`), in one call, as a second one
 * to learn the exact numbers could meet another file at the name. Its time
 * keeps the part of a millisecond that the number form keeps
 * (`coarseness` in `_lock_record.ts` tells whole seconds by it).
 */
function info(stat: fs.BigIntStats): EntryInfo {
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
    mode: Number(stat.mode) & 0o7777,
    uid: isWindows ? -1 : owners.uid(Number(stat.uid)),
    gid: isWindows ? -1 : owners.gid(Number(stat.gid)),
    mtimeMs: Number(stat.mtimeMs) + Number(stat.mtimeNs % MS_IN_NS) / 1e6,
    size: Number(stat.size),
    id: exactId(stat.dev, stat.ino),
    links: Number(stat.nlink),
  };
}

/** The id of what `path` leads to, for `currentDirectory`. */
function idOf(path: string): string {
  const { dev, ino } = fs.statSync(path, BIG);
  return exactId(dev, ino);
}

const RECURSIVE = { recursive: true } as const;
const NO_THROW_IF_NO_ENTRY = { throwIfNoEntry: false } as const;
const BIG = { bigint: true } as const;
const BIG_NO_THROW_IF_NO_ENTRY = {
  bigint: true,
  throwIfNoEntry: false,
} as const;

/**
 * What `mkdir -p` (and Deno) say where a recursive `mkdir` of `path`
 * failed, where Node says `ENOENT` (or `ENOTDIR`) instead:
 * - at a symbolic link that leads to no directory, the kernel's `EEXIST`
 *   for that link, from a plain `mkdir` of it (Node says `ENOENT` there,
 *   `ENOTDIR` in its callback form below the link; Bun `ENOENT` below it);
 * - below the deepest directory that exists, the kernel's answer to a plain
 *   `mkdir` of the next one down (`EROFS`, `EIO`, `EDQUOT`, …: Node's
 *   recursive `mkdir` passes on only `EACCES`, `ENOSPC`, `ENOTDIR` and
 *   `EPERM`, and says `ENOENT` for every other failure).
 * Runs only after such a failure, synchronously (an `lstat` a level, and
 * one `mkdir`, which makes that directory if it can be made by now).
 */
function kernelsMkdirError<E>(error: E, path: string): E {
  const code = errorCode(error);
  if (code !== "ENOENT" && code !== "ENOTDIR") return error;
  try {
    // The deepest entry on the way that exists (`undefined`: ENOENT, ENOTDIR).
    let entry = path;
    let below: string | undefined;
    let found = fs.lstatSync(entry, NO_THROW_IF_NO_ENTRY);
    while (found === undefined && dirname(entry) !== entry) {
      below = entry;
      entry = dirname(entry);
      found = fs.lstatSync(entry, NO_THROW_IF_NO_ENTRY);
    }
    if (found?.isSymbolicLink()) {
      if (fs.statSync(entry, NO_THROW_IF_NO_ENTRY) !== undefined) return error;
      fs.mkdirSync(entry);
    } else if (found?.isDirectory() && below !== undefined) {
      fs.mkdirSync(below);
    }
  } catch (kernel) {
    return kernel as E;
  }
  return error;
}

/**
 * Each operation once: the synchronous call, the callback call, what both do
 * with the outcome; the whole-file read and the ACL rows come from the
 * runtime (see `createNodeFsAdapter`).
 */
const table: Omit<OpTable<number>, "readFile" | "readAcl" | "writeAcl"> = {
  // The synchronous call asks not to throw for a missing entry, cheaper on
  // the path of every new file; its `undefined` also covers ENOTDIR (see
  // the module doc of `types.ts`).
  lstat: fromCallbacks(
    (path) => fs.lstatSync(path, BIG_NO_THROW_IF_NO_ENTRY),
    (path) => (done) => fs.lstat(path, BIG, done),
    { result: (stat) => stat ? info(stat) : null, recover: missingAsNull },
  ),
  // Not `throwIfNoEntry: false` here, which would hide ENOTDIR too.
  stat: fromCallbacks(
    (path) => fs.statSync(path, BIG),
    (path) => (done) => fs.stat(path, BIG, done),
    { result: info, recover: missingAsNull },
  ),
  // As bytes: the string forms decode a name that is not UTF-8 to U+FFFD,
  // which names another file.
  readLink: fromCallbacks(
    (path) => fs.readlinkSync(path, AS_BYTES),
    (path) => (done) => fs.readlink(path, AS_BYTES, done),
    { result: (bytes) => exactName(bytes, "readlink") },
  ),
  mkdir: fromCallbacks(
    (path) => {
      try {
        fs.mkdirSync(path, RECURSIVE);
      } catch (error) {
        throw kernelsMkdirError(error, path);
      }
    },
    (path) => (done) =>
      fs.mkdir(
        path,
        RECURSIVE,
        (error) => done(error && kernelsMkdirError(error, path), undefined),
      ),
  ),
  makeDirectory: fromCallbacks(
    (path, mode) => void fs.mkdirSync(path, { mode }),
    (path, mode) => (done) =>
      fs.mkdir(path, { mode }, (error) => done(error, undefined)),
  ),
  ...descriptorRows,
  // `node:fs`'s `bigint` stats are exact here (not Deno's).
  identify: identifying(exactId),
  rename: fromCallbacks(
    (from, to) => fs.renameSync(from, to),
    (from, to) => (done) => fs.rename(from, to, done),
  ),
  link: fromCallbacks(
    (from, to) => fs.linkSync(from, to),
    (from, to) => (done) => fs.link(from, to, done),
  ),
  ...nameRows,
  readDir: fromCallbacks(
    (path) => fs.readdirSync(path),
    (path) => (done) => fs.readdir(path, done),
  ),
  sleep: { sync: sleepSync, async: sleep },
};

const readText: ReadText = (path) => fs.readFileSync(path, "latin1");
/** Who the process writes as, where the platform has owners. */
function ids(): ProcessIds | null {
  return isWindows || !process.geteuid || !process.getegid
    ? null
    : { uid: process.geteuid(), gid: process.getegid() };
}

/** Owner ids as `info` gives them (see `OwnerIds`). */
const owners = new OwnerIds(readText);

/** `CAP_DAC_OVERRIDE`, as /proc tells (see `PermissionOverride`). */
const override = new PermissionOverride(readText);

const writers = procWriters({
  readText,
  readLink: (path) => fs.readlinkSync(path),
}, () => process.pid);

/** Node's permission model (`--permission`), where it is on; Bun has none. */
const permission = (process as {
  permission?: { has(scope: string, reference?: string): boolean };
}).permission;

/** `RuntimeAdapter.checkAccess`: Node's refusal, in Node's words, naming the flag. */
function checkAccess(path: string, access: "read" | "write"): void {
  if (permission === undefined || permission.has(`fs.${access}`, path)) return;
  throw Object.assign(
    new Error(
      `Access to this API has been restricted. Use --allow-fs-${access} to manage permissions.`,
    ),
    {
      code: "ERR_ACCESS_DENIED",
      permission: access === "read" ? "FileSystemRead" : "FileSystemWrite",
      resource: path,
    },
  );
}

/**
 * Builds the `node:fs` adapter under the given runtime name, with the xattr
 * calls `xattrs` loads (`null`: the runtime has none, and cannot see ACLs)
 * and the asynchronous whole-file read `read` (`_read_whole.ts`).
 */
export function createNodeFsAdapter(
  name: string,
  xattrs: () => Xattrs<number> | null,
  read: ReadWhole,
): RuntimeAdapter<number> {
  const readFile = fromCallbacks(
    (path: string) => {
      const { data, uid } = readEntrySync(path);
      return fileContent(data, uid, owners);
    },
    (path) => (done) =>
      read(
        path,
        (error, data, uid) =>
          error
            ? done(error, null)
            : done(null, fileContent(data, uid, owners)),
      ),
    { recover: missingAsNull },
  );
  const { sync, async } = split({ ...table, readFile, ...aclRows(xattrs) });
  return {
    name,
    sync,
    async,
    pid: process.pid,
    renameRetryCodes: RENAME_RETRY_CODES,
    ids,
    overridesPermissions: () => override.has(() => ids()?.uid === 0),
    protections: () => protectionsFromProc(readText),
    checkAccess,
    tmpDir: () => checkTemporaryDirectory(os.tmpdir()),
    currentDirectory: () => currentDirectory(idOf),
    ...writers,
    isProcessAlive,
    identity: processIdentity,
    processStart,
    bootTime,
    watchFile,
    repeat: (tick, ms) => {
      const timer = setRepeat(tick, ms);
      timer.unref();
      return () => clearRepeat(timer);
    },
    onExit: onProcessExit,
  };
}
