/**
 * Reading a whole file on Node and Bun, whatever its size: `fs.readFile`
 * refuses a file of 2 GiB or more on Node (`ERR_FS_FILE_TOO_LARGE`, which is
 * no system error) where Deno and Bun read it. Such a file is read again in
 * calls of at most 1 GiB into one buffer, so every runtime gives the same
 * bytes; smaller files cost nothing more.
 */
import fs from "node:fs";

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

/** `path`'s whole content, read in bounded calls. */
function readInCallsSync(path: string): Buffer {
  const fd = fs.openSync(path, "r");
  try {
    return readOpenSync(fd, fs.fstatSync(fd).size);
  } finally {
    fs.closeSync(fd);
  }
}

/** `path`'s whole content, read in bounded calls; `done` gets it or the first error. */
function readInCalls(
  path: string,
  done: (error: Error | null, data: Buffer) => void,
): void {
  fs.open(path, "r", (error, fd) => {
    if (error) return done(error, EMPTY);
    const finish = (failure: Error | null, data: Buffer = EMPTY): void =>
      fs.close(fd, (closing) => done(failure ?? closing, data));
    fs.fstat(fd, (error, stat) => {
      if (error) return finish(error);
      const buffer = Buffer.allocUnsafe(stat.size);
      const next = (offset: number): void => {
        const length = Math.min(MAX_READ_BYTES, stat.size - offset);
        if (length === 0) return finish(null, buffer);
        fs.read(fd, buffer, offset, length, offset, (error, read) => {
          if (error) return finish(error);
          if (read === 0) return finish(null, buffer.subarray(0, offset));
          next(offset + read);
        });
      };
      next(0);
    });
  });
}

/** `fs.readFileSync(path)`, for files of any size. */
export function readWholeSync(path: string): Buffer {
  try {
    return fs.readFileSync(path);
  } catch (error) {
    if (tooLarge(error)) return readInCallsSync(path);
    throw error;
  }
}

/** `fs.readFile(path, done)`, for files of any size. */
export function readWhole(
  path: string,
  done: (error: Error | null, data: Buffer) => void,
): void {
  fs.readFile(path, (error, data) => {
    if (error && tooLarge(error)) return readInCalls(path, done);
    done(error, data);
  });
}
