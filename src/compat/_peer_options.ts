/**
 * The option semantics write-file-atomic and atomically share, translated
 * into ours once: string options mean an encoding, `mode` and `chown` default
 * to the existing file's, `false` turns either default off, and a chown the
 * process may not make is tolerated as those packages tolerate it.
 */
import {
  type Encoding,
  type OptionValues,
  type OwnerChoice,
  type ResolvedOptions,
  resolveOptions,
  takeOptions,
  toBytes,
  toEncoding,
} from "../_validate.ts";
import type { Exception } from "./_exception.ts";

/**
 * An options argument as both peers take it: an object, or an encoding
 * name; taken once, as `takeOptions` takes it (own keys only, each read once).
 */
export function peerOptionsObject(
  options: unknown,
  peer: string,
  valid: readonly string[],
): OptionValues {
  if (options === null) return takeOptions(undefined, valid);
  if (typeof options === "string") {
    return takeOptions({ encoding: options }, valid);
  }
  return takeOptions(
    options,
    valid,
    `${peer} options`,
    () =>
      `Cannot use ${peer} options: expected an object or an encoding name, got ${typeof options}`,
  );
}

/**
 * A string's bytes in `encoding`, refused as `fs.writeFile` (which both
 * peers call) refuses it: hex text of an odd length is a TypeError with
 * code `ERR_INVALID_ARG_VALUE` (`Buffer.from` would drop the last digit),
 * before any file is touched.
 */
export function peerStringBytes(data: string, encoding: Encoding): Uint8Array {
  if (encoding === "hex" && data.length % 2 !== 0) {
    throw Object.assign(
      new TypeError(
        `The argument 'encoding' is invalid for data of length ${data.length}. Received 'hex'`,
      ),
      { code: "ERR_INVALID_ARG_VALUE" },
    );
  }
  return toBytes(data, "data", encoding);
}

/** The largest id `fs.chown` takes, and the largest mode `fs.chmod` takes. */
const UINT32_MAX = 2 ** 32 - 1;

/**
 * The permission bits of a mode, as chmod(2) keeps them: a whole
 * `stat.mode` carries the file type above them.
 */
function permissionBits(mode: number): number {
  return mode & 0o7777;
}

/**
 * A `mode` option: what `fs.chmod` takes (an integer from 0 to 2^32 - 1,
 * such as a whole `stat.mode`, or a string of octal digits), cut to its
 * permission bits; `null` for a value that means "what a plain create
 * gives". `plain` sees the value as given, as the peer compares it: for
 * atomically the number 0o666 is a plain create, the string "666" is not.
 */
function peerMode(
  value: unknown,
  plain: (mode: number) => boolean,
): number | null {
  if (value === false) return null;
  if (typeof value === "number" && plain(value)) return null;
  const mode = typeof value === "string" && /^[0-7]+$/.test(value)
    ? parseInt(value, 8)
    : value;
  if (typeof mode !== "number") {
    throw new TypeError(
      `Cannot use option "mode": expected a number or a string of octal digits, got ${
        typeof value === "string" ? `"${value}"` : typeof value
      }`,
    );
  }
  if (!Number.isInteger(mode) || mode < 0 || mode > UINT32_MAX) {
    throw new RangeError(
      `Cannot use option "mode": ${
        typeof value === "string" ? `"${value}"` : value
      } is not a mode from 0 to 0o37777777777`,
    );
  }
  return permissionBits(mode);
}

/**
 * One id of a `chown` option, checked as `fs.chown` checks it: an integer
 * from -1 ("leave it") to 2^32 - 1.
 */
function peerId(value: unknown, key: "uid" | "gid"): number {
  if (typeof value !== "number") {
    throw new TypeError(
      'Cannot use option "chown": expected false or { uid, gid } with integer ids',
    );
  }
  if (!Number.isInteger(value) || value < -1 || value > UINT32_MAX) {
    throw new RangeError(
      `Cannot use option "chown": ${key} ${value} is not an id from -1 to ${UINT32_MAX}`,
    );
  }
  return value;
}

/** A `chown` option: `undefined` copies the target's, `false` none. */
function peerOwner(value: unknown): OwnerChoice {
  if (value === undefined || value === null) return "target";
  if (value === false) return "process";
  if (typeof value !== "object") {
    throw new TypeError(
      'Cannot use option "chown": expected false or { uid, gid } with integer ids',
    );
  }
  const owner = value as { uid?: unknown; gid?: unknown };
  return { uid: peerId(owner.uid, "uid"), gid: peerId(owner.gid, "gid") };
}

/**
 * A boolean option where the peer treats anything but `false` as `true`
 * (both test `options.fsync !== false`): so does the shim, which only ever
 * errs towards the fsync.
 */
function peerFlag(value: unknown): boolean {
  return value !== false;
}

/** What the peers' shared options come to in our terms. */
export interface PeerChoices {
  /** The options in the peer's object, checked and taken once. */
  given: OptionValues;
  /** Our options for the write. */
  resolved: ResolvedOptions;
}

/**
 * Whether the peers' writes go on as without options for `options`: a
 * number or a boolean, whose fields all read `undefined` (atomically's
 * always; write-file-atomic's `sync` always, its asynchronous form for a
 * new file: over an existing one it copies the file's mode into the
 * options, which fails with a `TypeError` on a primitive in strict mode,
 * an accident not copied here). Their reads hand options to
 * `fs.readFile`, which refuses a number or a boolean: so do ours.
 */
function ignoresPrimitive(options: unknown): boolean {
  return typeof options === "number" || typeof options === "boolean";
}

/**
 * Translates the options both peers share (`encoding`, `fsync`, `mode`,
 * `chown`); `plain` says which `mode` values mean a plain create.
 */
export function translateShared(
  options: unknown,
  peer: string,
  valid: readonly string[],
  plain: (mode: number) => boolean,
): PeerChoices {
  const given = peerOptionsObject(
    ignoresPrimitive(options) ? undefined : options,
    peer,
    valid,
  );
  const mode = given.mode === undefined || given.mode === null
    ? undefined
    : peerMode(given.mode, plain);
  return {
    given,
    resolved: {
      ...resolveOptions(undefined),
      // Both write with `options.encoding || "utf8"`.
      encoding: toEncoding(given.encoding || undefined),
      fsync: peerFlag(given.fsync),
      mode: mode ?? undefined,
      keepMode: mode === undefined,
      owner: peerOwner(given.chown),
    },
  };
}

/**
 * A callback, as an option (`what` is `option "schedule"`) or as the last
 * argument (`the callback`), checked before the write starts: `undefined`
 * or `null` is none (the peers test `if (callback)`). Anything else that is
 * not a function throws a `TypeError`: the peers would write the file and
 * then drop it or trip over it (atomically hands it to `then()`, which
 * ignores it; write-file-atomic calls it and rejects), and a value in that
 * place is almost always an argument out of place.
 */
export function peerFunction<F>(value: unknown, what: string): F | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "function") {
    throw new TypeError(
      `Cannot use ${what}: expected a function, got ${typeof value}`,
    );
  }
  return value as F;
}

/**
 * Reports `promise` to a callback the way atomically does: the callback
 * gets the error, or `undefined` on success, and its result is ignored
 * (write-file-atomic's own way is `settleThrough` in `write_file_atomic.ts`).
 */
export function reportTo(
  promise: Promise<void>,
  callback: ((error?: Exception) => unknown) | undefined,
): void {
  if (callback === undefined) return;
  promise.then(
    () => callback(undefined),
    (error) => callback(error as Exception),
  );
}

/**
 * The TypeError Node's `fs.writeFile` refuses data of another kind with
 * (code `ERR_INVALID_ARG_TYPE`), for data that is neither a string nor an
 * instance of `accepted`.
 */
export function peerDataTypeError(data: unknown, accepted: string): TypeError {
  const received = data === null || data === undefined
    ? String(data)
    : `type ${typeof data}`;
  return Object.assign(
    new TypeError(
      `The "data" argument must be of type string or an instance of ${accepted}. Received ${received}`,
    ),
    { code: "ERR_INVALID_ARG_TYPE" },
  );
}
