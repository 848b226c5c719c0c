/**
 * Reading a whole file, on every runtime, whatever its size: `fs.readFile`
 * refuses a file of 2 GiB or more on Node (`ERR_FS_FILE_TOO_LARGE`, which is
 * no system error) where Deno and Bun read it. Such a file is read again in
 * calls of at most 1 GiB into one buffer, so every runtime gives the same
 * bytes; smaller files cost nothing more.
 *
 * A file larger than the runtime's largest buffer (`buffer.constants.
 * MAX_LENGTH`: 4 GiB on Bun, 2⁵³−1 bytes on Node) cannot be read whole at
 * all: that fails with `EFBIG` (Bun itself says `ENOMEM`, with memory to
 * spare).
 *
 * Node's `fs.readFile` also takes four thread-pool round trips, one after
 * the other (open, fstat, read, close): {@linkcode readWholeInTwo} takes
 * two, and is every adapter's asynchronous read.
 */
import fs from "node:fs";
import { constants } from "node:buffer";
import { isWindows } from "./_posix.ts";
import type { OwnerIds } from "./_proc.ts";
import { type FileContent, NO_OWNER } from "./types.ts";
import { ERRNO_NUMBERS } from "./_errno.ts";
import { closePassing, openPassing } from "./_full_table.ts";

/**
 * An asynchronous whole-file read: `done` gets the bytes and the owner of
 * the file they were read from (its `fstat`'s uid), or the first error.
 */
export type ReadWhole = (
  path: string,
  done: (error: Error | null, data: Buffer, uid: number) => void,
) => void;

/**
 * How every whole-file read opens its file: without blocking, so that a
 * FIFO put where the file was (while an update waited for its lock) cannot
 * hold the open for good; its kind is then refused ({@linkcode notRegular}).
 * A regular file reads as ever.
 */
const READ_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);
/**
 * The same, for the file a lock locked (or a lock file): never through a
 * symbolic link (`ELOOP`), which only a swap since the lock looked at it
 * can have put there, and which would lead to a file not locked.
 */
const ENTRY_FLAGS = READ_FLAGS | (fs.constants.O_NOFOLLOW ?? 0);

/**
 * Whether `stat` is of a special file (a FIFO, a socket, a device), which a
 * whole-file read refuses; a directory's read fails as ever (`EISDIR`).
 */
function isSpecial(stat: fs.Stats): boolean {
  return !stat.isFile() && !stat.isDirectory();
}

/**
 * The error for a read of `path`, which is a special file: `ENOTSUP`, as
 * the write that would follow refuses it.
 */
function notRegular(path: string): Error {
  return Object.assign(
    new Error(`ENOTSUP: not a regular file, read '${path}'`),
    {
      code: "ENOTSUP",
      errno: -ERRNO_NUMBERS.get("ENOTSUP")!,
      syscall: "read",
      path,
    },
  );
}

/** The most one read call asks for, as the library's writes. */
const MAX_READ_BYTES = 1 << 30;

/** What goes with an error in a callback (never looked at). */
const EMPTY = Buffer.alloc(0);

/** Whether `error` is Node's refusal of a file too large for one read. */
function tooLarge(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === "ERR_FS_FILE_TOO_LARGE";
}

/** Reads the open file `fd` of `size` bytes whole, in bounded calls; stops early at its end. */
function readOpenSync(fd: number, size: number): Buffer {
  const buffer = Buffer.allocUnsafe(size);
  let offset = 0;
  while (offset < size) {
    const length = Math.min(MAX_READ_BYTES, size - offset);
    const read = fs.readSync(fd, buffer, offset, length, offset);
    if (read === 0) break;
    offset += read;
  }
  return buffer.subarray(0, offset);
}

/**
 * What `fs.readFile` takes besides the path and the encoding, which a compat
 * shim passes through: how to open the file, and a signal to stop reading.
 */
export interface ReadWholeOptions {
  /** The open flags (`"r"`, `"a+"`, …), as `fs.open` takes them. */
  flag?: string | number | undefined;
  /** Ends the read with an `AbortError` once it aborts. */
  signal?: AbortSignal | undefined;
}

/** The error `fs.readFile` rejects with when its signal aborts. */
function aborted(signal: AbortSignal): Error {
  return Object.assign(
    new Error("The operation was aborted", { cause: signal.reason }),
    { name: "AbortError", code: "ABORT_ERR" },
  );
}

/** `path`'s whole content, read in bounded calls; `done` gets it or the first error. */
function readInCalls(
  path: string,
  done: (error: Error | null, data: Buffer) => void,
  options: ReadWholeOptions,
): void {
  fs.open(path, options.flag ?? READ_FLAGS, (error, fd) => {
    if (error) return done(error, EMPTY);
    readOpenInCalls(fd, done, options.signal);
  });
}

/** Closes a descriptor: `fs.close`, or {@linkcode closePassing} for one opened passing. */
type Close = (fd: number, done: (error: Error | null) => void) => void;

/** The whole content of the open file `fd`, read in bounded calls; closes it with `close`. */
function readOpenInCalls(
  fd: number,
  done: (error: Error | null, data: Buffer) => void,
  signal?: AbortSignal,
  close: Close = fs.close,
): void {
  const finish = (failure: Error | null, data: Buffer = EMPTY): void =>
    close(fd, (closing) => done(failure ?? closing, data));
  fs.fstat(fd, (error, stat) => {
    if (error) return finish(error);
    const buffer = Buffer.allocUnsafe(stat.size);
    const next = (offset: number): void => {
      const length = Math.min(MAX_READ_BYTES, stat.size - offset);
      if (length === 0) return finish(null, buffer);
      if (signal?.aborted) return finish(aborted(signal));
      fs.read(fd, buffer, offset, length, offset, (error, read) => {
        if (error) return finish(error);
        if (read === 0) return finish(null, buffer.subarray(0, offset));
        next(offset + read);
      });
    };
    next(0);
  });
}

/**
 * What an adapter's `readFile` gives for `data`, read from a file of `uid`:
 * the bytes as {@linkcode plainBytes}, the owner as its `lstat` gives it
 * (`owners`' mapping; none on Windows).
 */
export function fileContent(
  data: Uint8Array,
  uid: number,
  owners: OwnerIds,
): FileContent {
  return {
    bytes: plainBytes(data),
    uid: isWindows ? NO_OWNER : owners.uid(uid),
  };
}

/**
 * `data` as what Deno's reads give and an update's `fn` is promised: a plain
 * `Uint8Array` (not a `Buffer`, whose `toString()` decodes where a
 * `Uint8Array`'s lists numbers, so the same `fn` would compute another
 * result on Node and Bun) over exactly the file's bytes (a `Buffer` may be a
 * view of a larger pool or first-read buffer, whose other bytes are not the
 * file's). A view when that costs nothing, a copy otherwise.
 */
export function plainBytes(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.buffer.byteLength === data.length
    ? new Uint8Array(data.buffer)
    : new Uint8Array(data);
}

/**
 * The error for a read of `path` that failed: `EFBIG` if the file (of
 * `size` bytes) is larger than any buffer of this runtime, else `error`.
 */
function beyondBuffers(path: string, size: number, error: Error): Error {
  if (size <= constants.MAX_LENGTH) return error;
  return Object.assign(
    new Error(
      `EFBIG: file too large to read whole, ${size} bytes, more than this runtime's largest buffer (${constants.MAX_LENGTH} bytes), read '${path}'`,
      { cause: error },
    ),
    {
      code: "EFBIG",
      errno: -ERRNO_NUMBERS.get("EFBIG")!,
      syscall: "read",
      path,
    },
  );
}

/**
 * `fs.readFileSync(path)`, for files of any size that fits a buffer. A
 * special file fails with `ENOTSUP`, without blocking, unless `anyKind` (a
 * compat shim reads a FIFO as `fs` does, and may give the open `flag`).
 */
export function readWholeSync(
  path: string,
  anyKind = false,
  flag?: string | number,
): Buffer {
  return readOpenedSync(
    path,
    fs.openSync(path, flag ?? (anyKind ? "r" : READ_FLAGS)),
    anyKind,
  );
}

/** What {@linkcode readEntrySync} read: the bytes, and the owner of the file they came from. */
export interface EntryRead {
  readonly data: Buffer;
  readonly uid: number;
}

/**
 * {@linkcode readWholeSync} of an entry that must not be a symbolic link
 * (`ELOOP`: see `ENTRY_FLAGS`), with its owner, as the open file's `fstat`
 * says (a name's `lstat` before or after may have seen another file).
 */
export function readEntrySync(path: string): EntryRead {
  let uid = 0;
  const data = readOpenedSync(
    path,
    fs.openSync(path, ENTRY_FLAGS),
    false,
    (stat) => uid = stat.uid,
  );
  return { data, uid };
}

/**
 * The whole content of `path`, just opened as `fd`, which it closes;
 * `seen` gets the open file's `fstat`.
 */
function readOpenedSync(
  path: string,
  fd: number,
  anyKind: boolean,
  seen?: (stat: fs.Stats) => void,
): Buffer {
  try {
    const stat = fs.fstatSync(fd);
    seen?.(stat);
    if (!anyKind && isSpecial(stat)) throw notRegular(path);
    const size = stat.size;
    // The size is known: read it in place, without readFileSync's own fstat.
    // A size of 0 (a /proc file) or one past any buffer goes to readFileSync.
    if (size > 0 && size <= constants.MAX_LENGTH) return readOpenSync(fd, size);
    try {
      return fs.readFileSync(fd);
    } catch (error) {
      if (tooLarge(error)) return readOpenSync(fd, size);
      throw beyondBuffers(path, size, error as Error);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** `fs.readFile(path, options, done)`, for files of any size that fits a buffer. */
export function readWhole(
  path: string,
  done: (error: Error | null, data: Buffer) => void,
  options: ReadWholeOptions = {},
): void {
  // Node takes a number as the flag too; the Node types Deno bundles (used
  // where no `@types/node` is installed) say only a string.
  const given = options as { flag?: string; signal?: AbortSignal };
  fs.readFile(path, given, (error, data) => {
    if (error === null) return done(null, data);
    if (tooLarge(error)) return readInCalls(path, done, options);
    try {
      fs.stat(
        path,
        (_, stat) => done(beyondBuffers(path, stat?.size ?? 0, error), data),
      );
    } catch {
      // What `fs.readFile` takes and `fs.stat` refuses (a descriptor, from
      // a caller of a compat API): a throw here would be uncaught.
      done(beyondBuffers(path, 0, error), data);
    }
  });
}

/**
 * How much the first read of {@linkcode readWholeInTwo} asks for: the files
 * updated under a lock (settings, counters, small databases) fit whole.
 */
const FIRST_READ_BYTES = 64 * 1024;

const ignore = (): void => {};

/**
 * `fs.readFile(path, done)` (as {@linkcode readWhole}) in two thread-pool
 * round trips instead of four: the open, then the size and a first read of
 * {@linkcode FIRST_READ_BYTES} at once; the file is closed behind the
 * answer (before it on Windows, where an open file can stand in the way of
 * a rename). A file the first read did not take whole (a larger one, a
 * short read) or whose size the file system does not say (a /proc file,
 * whose reads may each stop at a page) is read again in full from the
 * same open file, never by its name again: one read of the file gives the
 * bytes, never two pieced together. It is opened with `O_NOFOLLOW` (see
 * `ENTRY_FLAGS`): it reads the file a lock locked, and lock files. Its
 * file is passing (`_full_table.ts`): it goes by itself, and an open that
 * finds the table full meanwhile waits for it; its own open, where it finds
 * the table full, waits for another.
 * Measured on Node 24, a 1 KiB file reads in about 60 % of `fs.readFile`'s
 * time (one process, 2,000 reads, 6 rounds); the next holder of a
 * contended lock reads the file as it takes the lock, so this is also
 * hand-over time.
 */
export const readWholeInTwo: ReadWhole = (path, done) => {
  // The owner, from the open file's `fstat`, goes with the bytes.
  let uid = 0;
  const finish = (error: Error | null, data: Buffer): void =>
    done(error, data, uid);
  openPassing(path, ENTRY_FLAGS, (error, fd) => {
    if (error) return finish(error, EMPTY);
    const first = Buffer.allocUnsafe(FIRST_READ_BYTES);
    let size = 0;
    let got = 0;
    let failure: Error | null = null;
    let pending = 2;
    const joined = (): void => {
      if (--pending > 0) return;
      // A size of 0 with bytes in it is a file whose size the file system
      // does not say (/proc): its reads may stop short of its end (a page of
      // /proc/self/mountinfo at a time), so only a read to its end tells.
      const whole = failure === null && got >= size && (size > 0 || got === 0);
      const answer = (): void => {
        if (failure !== null) return finish(failure, EMPTY);
        // Not pooled: the caller may hold on to it, and to its buffer.
        const data = Buffer.allocUnsafeSlow(got);
        first.copy(data, 0, 0, got);
        finish(null, data);
      };
      // Not whole: read again in full, from the file already open, never
      // by its name again (a swap may have sent that elsewhere by now).
      if (failure === null && !whole) {
        return readOpenAgain(fd, path, size, finish);
      }
      if (isWindows || failure !== null) {
        return closePassing(fd, (closing) => {
          failure ??= closing;
          answer();
        });
      }
      closePassing(fd, ignore);
      answer();
    };
    fs.fstat(fd, (error, stat) => {
      if (error) failure ??= error;
      // Before the read's error: a FIFO's read fails too (ESPIPE).
      else if (isSpecial(stat)) failure = notRegular(path);
      else {
        size = stat.size;
        uid = stat.uid;
      }
      joined();
    });
    fs.read(fd, first, 0, FIRST_READ_BYTES, 0, (error, read) => {
      if (error) failure ??= error;
      else got = read;
      joined();
    });
  });
};

/**
 * The whole content of `path`, open as `fd` (nothing read from its
 * position yet), of `size` bytes as its `fstat` said: read in bounded
 * calls (a file of more than 2 GiB too, which `fs.readFile` refuses), or,
 * where the file system gives no size (0: a /proc file), to its end by
 * `fs.readFile`; closes it (it was opened passing).
 */
function readOpenAgain(
  fd: number,
  path: string,
  size: number,
  done: (error: Error | null, data: Buffer) => void,
): void {
  if (size > 0) {
    if (size > constants.MAX_LENGTH) {
      const error = new Error(`file of ${size} bytes`);
      return closePassing(
        fd,
        () => done(beyondBuffers(path, size, error), EMPTY),
      );
    }
    return readOpenInCalls(fd, done, undefined, closePassing);
  }
  fs.readFile(fd, (error, data) => {
    closePassing(
      fd,
      (closing) => done(error ?? closing, error ? EMPTY : data),
    );
  });
}
