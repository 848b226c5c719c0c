/**
 * The option semantics write-file-atomic and atomically share, translated
 * into ours once: string options mean an encoding, `mode` and `chown` default
 * to the existing file's, `false` turns either default off, and a chown the
 * process may not make is tolerated as those packages tolerate it.
 */
import {
  type OwnerChoice,
  rejectUnknownKeys,
  type ResolvedOptions,
  resolveOptions,
  toEncoding,
  toMode,
} from "../_validate.ts";

/** An options argument as both peers take it: an object, or an encoding name. */
export function peerOptionsObject(
  options: unknown,
  peer: string,
  valid: readonly string[],
): Record<string, unknown> {
  if (options === undefined || options === null) return {};
  if (typeof options === "string") return { encoding: options };
  if (typeof options !== "object") {
    throw new TypeError(
      `Cannot use ${peer} options: expected an object or an encoding name, got ${typeof options}`,
    );
  }
  rejectUnknownKeys(options, valid, `${peer} options`);
  return options as Record<string, unknown>;
}

/**
 * A `mode` option: a number, or a string of octal digits as `fs.chmod`
 * takes it; `null` for a value that means "what a plain create gives".
 */
export function peerMode(
  value: unknown,
  plain: (mode: number) => boolean,
): number | null {
  if (value === false) return null;
  const mode = typeof value === "string" && /^[0-7]+$/.test(value)
    ? parseInt(value, 8)
    : value;
  if (typeof mode === "number" && plain(mode)) return null;
  return toMode(mode);
}

/** A `chown` option: `undefined` copies the target's, `false` none. */
export function peerOwner(value: unknown): OwnerChoice {
  if (value === undefined || value === null) return "target";
  if (value === false) return "process";
  const owner = value as { uid?: unknown; gid?: unknown };
  if (
    typeof value !== "object" || !Number.isInteger(owner.uid) ||
    !Number.isInteger(owner.gid)
  ) {
    throw new TypeError(
      'Cannot use option "chown": expected false or { uid, gid } with integer ids',
    );
  }
  return { uid: owner.uid as number, gid: owner.gid as number };
}

/** A boolean option where the peer treats anything but `false` as `true`. */
export function peerFlag(value: unknown, key: string): boolean {
  if (value === undefined) return true;
  if (typeof value !== "boolean") {
    throw new TypeError(
      `Cannot use option "${key}": expected a boolean, got ${typeof value}`,
    );
  }
  return value;
}

/** A callback option, or `undefined`. */
export function peerFunction<F>(value: unknown, key: string): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "function") {
    throw new TypeError(
      `Cannot use option "${key}": expected a function, got ${typeof value}`,
    );
  }
  return value as F;
}

/** What the peers' shared options come to in our terms. */
export interface PeerChoices {
  /** The options in the peer's object, checked. */
  given: Record<string, unknown>;
  /** Our options for the write. */
  resolved: ResolvedOptions;
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
  const given = peerOptionsObject(options, peer, valid);
  const mode = given.mode === undefined || given.mode === null
    ? undefined
    : peerMode(given.mode, plain);
  return {
    given,
    resolved: {
      ...resolveOptions(undefined),
      encoding: toEncoding(given.encoding),
      fsync: peerFlag(given.fsync, "fsync"),
      mode: mode ?? undefined,
      keepMode: mode === undefined,
      owner: peerOwner(given.chown),
    },
  };
}

/**
 * Reports `promise` to a callback the way atomically does: the callback
 * gets the error, or `undefined` on success, and its result is ignored
 * (write-file-atomic's own way is `settleThrough` in `write_file_atomic.ts`).
 */
export function reportTo(
  promise: Promise<void>,
  callback: ((error?: unknown) => unknown) | undefined,
): void {
  if (callback === undefined) return;
  if (typeof callback !== "function") {
    throw new TypeError(
      "Cannot report the result: the callback is not a function",
    );
  }
  promise.then(() => callback(undefined), (error) => callback(error));
}
