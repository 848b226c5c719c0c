/**
 * The three ways to write a whole file: every behaviour they share is tested
 * through each of them, so the sync, async and handle paths cannot drift.
 */
import {
  type AtomicChunk,
  type AtomicOptions,
  AtomicWriter,
  lockFile,
  lockFileSync,
  makeTempFile,
  makeTempFileSync,
  openAtomic,
  removeStaleTemps,
  removeStaleTempsSync,
  updateFileAtomic,
  updateFileAtomicSync,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../mod.ts";

/** One way of writing a file atomically, with how its failures are named. */
export interface WriteApi {
  /** The name tests start with: `writeFileAtomic()`, … */
  name: string;
  /** "rejects" or "throws": how this API reports a failure. */
  fails: "rejects" | "throws";
  /** Writes `data` to `path`; always returns a promise so tests can await it. */
  write(
    path: string | URL,
    data: AtomicChunk,
    options?: AtomicOptions,
  ): Promise<void>;
}

/** `writeFileAtomic`, `writeFileAtomicSync` and the `openAtomic` handle. */
export const apis: WriteApi[] = [
  {
    name: "writeFileAtomic()",
    fails: "rejects",
    write: (path, data, options) => writeFileAtomic(path, data, options),
  },
  {
    name: "writeFileAtomicSync()",
    fails: "throws",
    write: (path, data, options) => {
      try {
        writeFileAtomicSync(path, data, options);
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(error);
      }
    },
  },
  {
    name: "openAtomic()",
    fails: "rejects",
    write: (path, data, options) =>
      openAtomic(path, (file) => file.write(data), options),
  },
];

/** One public function that takes a path (of a file, or of a directory). */
export interface PathApi {
  /** The name tests start with: `lockFile()`, … */
  name: string;
  /**
   * Does the least the API does with `path`, undoing what it made (a lock
   * is released, a temporary file removed); throws or rejects as the API does.
   */
  use(path: string | URL): unknown;
}

/** Every public function of mod.ts that takes a path or a `file:` URL. */
export const pathApis: PathApi[] = [
  ...apis.map((api) => ({
    name: api.name,
    use: (path: string | URL) => api.write(path, "x"),
  })),
  {
    name: "AtomicWriter",
    use: (path) => new AtomicWriter(path).write("x"),
  },
  {
    name: "updateFileAtomic()",
    use: (path) => updateFileAtomic(path, () => "x"),
  },
  {
    name: "updateFileAtomicSync()",
    use: (path) => updateFileAtomicSync(path, () => "x"),
  },
  {
    name: "lockFile()",
    use: async (path) => await (await lockFile(path)).release(),
  },
  { name: "lockFileSync()", use: (path) => lockFileSync(path).releaseSync() },
  {
    name: "makeTempFile()",
    use: async (dir) => await (await makeTempFile({ dir })).remove(),
  },
  {
    name: "makeTempFileSync()",
    use: (dir) => makeTempFileSync({ dir })[Symbol.dispose](),
  },
  { name: "removeStaleTemps()", use: (dir) => removeStaleTemps(dir) },
  { name: "removeStaleTempsSync()", use: (dir) => removeStaleTempsSync(dir) },
];

/** The error `call` throws or rejects with, or `undefined` if it succeeds. */
export async function failureOf(call: () => unknown): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  return undefined;
}
