/**
 * The references the benchmark measures against, written by hand on each
 * runtime's own file API: the atomic-replace protocol at its floor (open a
 * fresh temporary file with `O_CREAT|O_EXCL`, write, [fsync], close, rename,
 * [open the directory, fsync it, close it]) and a plain, non-atomic
 * `writeFile`. On Deno they use Deno's own file API (`floorFor("node")` gives
 * the `node:fs` one there too, which is often the faster), on Node and Bun the
 * `node:fs` callback API chained by hand (one promise per write, no promise
 * per system call) and its synchronous twin.
 *
 * The floor makes the system calls of the bare protocol and no more: no
 * `stat` of the target, no `chmod`, no `realpath`, no `O_TRUNC`; so it keeps
 * no mode, owner or ACL of the target, which a correct replace must. Durable,
 * it fsyncs the file and the directory on every write, even among writes that
 * run at once (the library shares the directory's fsync between writes that
 * finish together, so it can pass this floor there).
 */
import fs from "node:fs";
import { basename, dirname, join } from "node:path";
import process from "node:process";

/** One way of writing `bytes` to `path`, asynchronously. */
export type AsyncWrite = (path: string, bytes: Uint8Array) => Promise<void>;
/** One way of writing `bytes` to `path`, synchronously. */
export type SyncWrite = (path: string, bytes: Uint8Array) => void;

/** The hand-written references for the running runtime. */
export interface Floor {
  /** Which primitives the floor is built on. */
  readonly api: string;
  atomic(fsync: boolean): AsyncWrite;
  atomicSync(fsync: boolean): SyncWrite;
  /** The durable protocol fed chunk by chunk from `source`. */
  stream(path: string, source: AsyncIterable<Uint8Array>): Promise<void>;
  /** Plain, non-atomic `writeFile` (truncates the target in place). */
  plain: AsyncWrite;
  plainSync: SyncWrite;
}

let counter = 0;

/** A fresh temporary name beside `path`: cheap, unique within the process. */
function tempFor(path: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.${process.pid}-${++counter}.floor-tmp`,
  );
}

const { O_WRONLY, O_CREAT, O_EXCL, O_RDONLY } = fs.constants;
const O_DIRECTORY = fs.constants.O_DIRECTORY ?? 0;
const CREATE = O_WRONLY | O_CREAT | O_EXCL;

type Done = (error: Error | null) => void;

/** The directory fsync on `node:fs` callbacks: open, fsync, close. */
function syncDirNode(dir: string, done: Done): void {
  fs.open(dir, O_RDONLY | O_DIRECTORY, (error, fd) => {
    if (error) return done(error);
    fs.fsync(fd, (syncError) => {
      fs.close(fd, (closeError) => done(syncError ?? closeError ?? null));
    });
  });
}

/** Writes all of `bytes` at the current offset, resuming short writes. */
function writeAllNode(
  fd: number,
  bytes: Uint8Array,
  offset: number,
  done: Done,
): void {
  fs.write(fd, bytes, offset, bytes.length - offset, null, (error, n) => {
    if (error) return done(error);
    offset += n;
    if (offset < bytes.length) writeAllNode(fd, bytes, offset, done);
    else done(null);
  });
}

function nodeAtomic(fsync: boolean): AsyncWrite {
  return (path, bytes) =>
    new Promise<void>((resolve, reject) => {
      const temp = tempFor(path);
      const fail = (error: Error) => {
        fs.unlink(temp, () => reject(error));
      };
      fs.open(temp, CREATE, 0o666, (openError, fd) => {
        if (openError) return reject(openError);
        const close = (error: Error | null) => {
          if (error) return fs.close(fd, () => fail(error));
          fs.close(fd, (closeError) => {
            if (closeError) return fail(closeError);
            fs.rename(temp, path, (renameError) => {
              if (renameError) return fail(renameError);
              if (!fsync) return resolve();
              syncDirNode(
                dirname(path),
                (dirError) => dirError ? reject(dirError) : resolve(),
              );
            });
          });
        };
        writeAllNode(fd, bytes, 0, (writeError) => {
          if (writeError || !fsync) return close(writeError);
          fs.fsync(fd, close);
        });
      });
    });
}

function nodeAtomicSync(fsync: boolean): SyncWrite {
  return (path, bytes) => {
    const temp = tempFor(path);
    const fd = fs.openSync(temp, CREATE, 0o666);
    try {
      let offset = 0;
      while (offset < bytes.length) {
        offset += fs.writeSync(fd, bytes, offset, bytes.length - offset);
      }
      if (fsync) fs.fsyncSync(fd);
    } catch (error) {
      fs.closeSync(fd);
      fs.unlinkSync(temp);
      throw error;
    }
    fs.closeSync(fd);
    fs.renameSync(temp, path);
    if (fsync) {
      const dir = fs.openSync(dirname(path), O_RDONLY | O_DIRECTORY);
      try {
        fs.fsyncSync(dir);
      } finally {
        fs.closeSync(dir);
      }
    }
  };
}

function callNode(start: (done: Done) => void): Promise<void> {
  return new Promise((resolve, reject) =>
    start((error) => error ? reject(error) : resolve())
  );
}

async function nodeStream(
  path: string,
  source: AsyncIterable<Uint8Array>,
): Promise<void> {
  const temp = tempFor(path);
  const fd = await new Promise<number>((resolve, reject) =>
    fs.open(temp, CREATE, 0o666, (e, fd) => e ? reject(e) : resolve(fd))
  );
  for await (const chunk of source) {
    await callNode((done) => writeAllNode(fd, chunk, 0, done));
  }
  await callNode((done) => fs.fsync(fd, done));
  await callNode((done) => fs.close(fd, done));
  await callNode((done) => fs.rename(temp, path, done));
  await callNode((done) => syncDirNode(dirname(path), done));
}

function nodeFloor(): Floor {
  return {
    api: "node:fs callbacks / *Sync",
    atomic: nodeAtomic,
    atomicSync: nodeAtomicSync,
    stream: nodeStream,
    plain: (path, bytes) =>
      new Promise<void>((resolve, reject) =>
        fs.writeFile(path, bytes, (error) => error ? reject(error) : resolve())
      ),
    plainSync: (path, bytes) => fs.writeFileSync(path, bytes),
  };
}

const createNew: Deno.OpenOptions = {
  write: true,
  createNew: true,
  mode: 0o666,
};

function denoAtomic(fsync: boolean): AsyncWrite {
  return async (path, bytes) => {
    const temp = tempFor(path);
    const file = await Deno.open(temp, createNew);
    try {
      let offset = 0;
      while (offset < bytes.length) {
        offset += await file.write(
          offset === 0 ? bytes : bytes.subarray(offset),
        );
      }
      if (fsync) await file.sync();
    } catch (error) {
      file.close();
      await Deno.remove(temp);
      throw error;
    }
    file.close();
    await Deno.rename(temp, path);
    if (fsync) {
      const dir = await Deno.open(dirname(path), { read: true });
      try {
        await dir.sync();
      } finally {
        dir.close();
      }
    }
  };
}

function denoAtomicSync(fsync: boolean): SyncWrite {
  return (path, bytes) => {
    const temp = tempFor(path);
    const file = Deno.openSync(temp, createNew);
    try {
      let offset = 0;
      while (offset < bytes.length) {
        offset += file.writeSync(offset === 0 ? bytes : bytes.subarray(offset));
      }
      if (fsync) file.syncSync();
    } catch (error) {
      file.close();
      Deno.removeSync(temp);
      throw error;
    }
    file.close();
    Deno.renameSync(temp, path);
    if (fsync) {
      const dir = Deno.openSync(dirname(path), { read: true });
      try {
        dir.syncSync();
      } finally {
        dir.close();
      }
    }
  };
}

async function denoStream(
  path: string,
  source: AsyncIterable<Uint8Array>,
): Promise<void> {
  const temp = tempFor(path);
  const file = await Deno.open(temp, createNew);
  for await (const chunk of source) {
    let offset = 0;
    while (offset < chunk.length) {
      offset += await file.write(offset === 0 ? chunk : chunk.subarray(offset));
    }
  }
  await file.sync();
  file.close();
  await Deno.rename(temp, path);
  const dir = await Deno.open(dirname(path), { read: true });
  await dir.sync();
  dir.close();
}

function denoFloor(): Floor {
  return {
    api: "Deno.open / FsFile / Deno.rename",
    atomic: denoAtomic,
    atomicSync: denoAtomicSync,
    stream: denoStream,
    plain: (path, bytes) => Deno.writeFile(path, bytes),
    plainSync: (path, bytes) => Deno.writeFileSync(path, bytes),
  };
}

/** The running runtime's name. */
export function runtimeName(): "deno" | "bun" | "node" {
  const global = globalThis as { Deno?: unknown; Bun?: unknown };
  if (global.Deno !== undefined) return "deno";
  if (global.Bun !== undefined) return "bun";
  return "node";
}

/** The running runtime and its version, e.g. `deno 2.9.6`. */
export function runtimeVersion(): string {
  const name = runtimeName();
  if (name === "deno") return `deno ${Deno.version.deno}`;
  if (name === "bun") {
    return `bun ${(globalThis as { Bun?: { version: string } }).Bun?.version}`;
  }
  return `node ${process.versions.node}`;
}

/**
 * The references for the running runtime; `api` picks the primitives
 * ("deno" or "node"), by default the runtime's own.
 */
export function floorFor(api = runtimeName()): Floor {
  return api === "deno" ? denoFloor() : nodeFloor();
}
