/**
 * The three ways to write a whole file: every behaviour they share is tested
 * through each of them, so the sync, async and handle paths cannot drift.
 */
import {
  type AtomicChunk,
  type AtomicOptions,
  openAtomic,
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
