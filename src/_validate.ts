/** Argument checks: bad arguments throw before any file is touched. */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { AtomicOptions } from "./atomic_options.ts";

/** Options with every default filled in. */
export interface ResolvedOptions {
  fsync: boolean;
  mode: number | undefined;
  overwrite: boolean;
  mkdir: boolean;
  signal: AbortSignal | undefined;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value;
}

/** The absolute path for `path`, a non-empty string or a `file:` URL. */
export function toAbsolutePath(path: unknown, what = "path"): string {
  let text: string;
  if (typeof path === "string") {
    text = path;
  } else if (path instanceof URL) {
    if (path.protocol !== "file:") {
      throw new TypeError(
        `Cannot use ${what} "${path.href}": only file: URLs name files`,
      );
    }
    text = fileURLToPath(path);
  } else {
    throw new TypeError(
      `Cannot use ${what}: expected a string or a URL, got ${describe(path)}`,
    );
  }
  if (text === "") throw new TypeError(`Cannot use ${what}: it is empty`);
  if (text.includes("\0")) {
    throw new TypeError(
      `Cannot use ${what} ${JSON.stringify(text)}: it contains a NUL byte`,
    );
  }
  return resolve(text);
}

function optionalBoolean(options: AtomicOptions, key: keyof AtomicOptions) {
  const value = options[key];
  if (value !== undefined && typeof value !== "boolean") {
    throw new TypeError(
      `Cannot use option "${key}": expected a boolean, got ${describe(value)}`,
    );
  }
}

/** Checks `options` and fills in the defaults. */
export function resolveOptions(options: unknown): ResolvedOptions {
  if (options === undefined) {
    return {
      fsync: true,
      mode: undefined,
      overwrite: true,
      mkdir: false,
      signal: undefined,
    };
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `Cannot use options: expected an object, got ${describe(options)}`,
    );
  }
  const given = options as AtomicOptions;
  optionalBoolean(given, "fsync");
  optionalBoolean(given, "overwrite");
  optionalBoolean(given, "mkdir");
  const { mode, signal } = given;
  if (mode !== undefined) {
    if (typeof mode !== "number") {
      throw new TypeError(
        `Cannot use option "mode": expected a number, got ${describe(mode)}`,
      );
    }
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      throw new RangeError(
        `Cannot use option "mode": ${mode} is not a permission mask from 0 to 0o7777`,
      );
    }
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(
      `Cannot use option "signal": expected an AbortSignal, got ${
        describe(signal)
      }`,
    );
  }
  return {
    fsync: given.fsync ?? true,
    mode,
    overwrite: given.overwrite ?? true,
    mkdir: given.mkdir ?? false,
    signal,
  };
}

const encoder = new TextEncoder();

/** `chunk` as bytes: strings are encoded as UTF-8. */
export function toBytes(chunk: unknown, what = "data"): Uint8Array {
  if (typeof chunk === "string") return encoder.encode(chunk);
  if (chunk instanceof Uint8Array) return chunk;
  throw new TypeError(
    `Cannot write ${what}: expected a string or a Uint8Array, got ${
      describe(chunk)
    }`,
  );
}
