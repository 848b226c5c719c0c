/**
 * Facts Linux shows under /proc, read as text without side effects: who the
 * process writes as (`/proc/self/status`, a fallback for Deno's `uid()`;
 * Deno reads /proc only with `--allow-all`) and whether it may open any
 * file (its capabilities, there too), the kernel's sticky-directory
 * protections (`/proc/sys/fs/protected_*`), and which owner ids `stat`
 * makes up (`/proc/self/uid_map`, `/proc/sys/kernel/overflow*`).
 */
import {
  type ProcessIds,
  type StickyProtections,
  UNKNOWN_OWNER,
} from "./types.ts";
import { errorCode } from "../_error_code.ts";
import { monotonic } from "../_clock.ts";

/** Reads a whole text file; throws if it cannot. */
export type ReadText = (path: string) => string;

/**
 * Codes of a failed read of /proc that may succeed the next time: out of
 * descriptors or memory, interrupted. What was read then is not kept, and
 * is read again on the next call; every other failure (no /proc, no
 * permission) is for good.
 */
const TRANSIENT = new Set(["EMFILE", "ENFILE", "ENOMEM", "EAGAIN", "EINTR"]);

/** Whether `error` is a {@linkcode TRANSIENT} failure. */
export function isTransient(error: unknown): boolean {
  return TRANSIENT.has(errorCode(error) ?? "");
}

const FS_IDS =
  /^Uid:\s+\d+\s+\d+\s+\d+\s+(\d+)$[\s\S]*^Gid:\s+\d+\s+\d+\s+\d+\s+(\d+)$/m;

/** The file-system user and group (what the kernel checks access with); `null` if unreadable. */
export function idsFromProc(readText: ReadText): ProcessIds | null {
  try {
    const match = FS_IDS.exec(readText("/proc/self/status"));
    return match ? { uid: Number(match[1]), gid: Number(match[2]) } : null;
  } catch {
    return null;
  }
}

/** The effective capabilities, in hexadecimal (`CapEff:\t000001ffffffffff`). */
const EFFECTIVE_CAPABILITIES = /^CapEff:\s+([0-9a-f]+)$/m;

/** `CAP_DAC_OVERRIDE`'s bit (`linux/capability.h`): read and write any file, whatever its bits. */
const CAP_DAC_OVERRIDE = 1n << 1n;

/**
 * Whether `CAP_DAC_OVERRIDE` is in this process's effective set, read from
 * /proc/self/status afresh at each call (a process may drop it while it
 * runs). A read that fails answers as the last read did: it is asked for
 * in bursts of writes, which may just then have filled the descriptor
 * table (40 writes at once under a limit of 64 on Deno, whose asynchronous
 * calls each hold a duplicate); where none could be made (no /proc, Deno
 * without `--allow-all`), as root's default (`isRoot`): root has it unless
 * it was dropped. Answering "no" there would keep every waiting file of
 * root's bursts to other users' files open, and exhaust the descriptors.
 */
export class PermissionOverride {
  readonly #readText: ReadText;
  #last: boolean | undefined;

  constructor(readText: ReadText) {
    this.#readText = readText;
  }

  /** Whether it is in effect; `isRoot` tells whether the process runs as root. */
  has(isRoot: () => boolean): boolean {
    let status: string;
    try {
      status = this.#readText("/proc/self/status");
    } catch {
      return this.#last ?? isRoot();
    }
    const match = EFFECTIVE_CAPABILITIES.exec(status);
    if (match === null) return this.#last ?? isRoot();
    this.#last = (BigInt(`0x${match[1]}`) & CAP_DAC_OVERRIDE) !== 0n;
    return this.#last;
  }
}

function sysctl(readText: ReadText, name: string): number | null {
  try {
    const value = Number.parseInt(readText(`/proc/sys/fs/${name}`), 10);
    return Number.isNaN(value) ? null : value;
  } catch {
    return null;
  }
}

/** `fs.protected_symlinks` and `fs.protected_regular`, each `null` where unreadable. */
export function protectionsFromProc(readText: ReadText): StickyProtections {
  return {
    symlinks: sysctl(readText, "protected_symlinks"),
    regular: sysctl(readText, "protected_regular"),
  };
}

/**
 * The id the kernel shows for an owner that a user namespace does not map,
 * unless `kernel.overflowuid` or `kernel.overflowgid` say otherwise.
 */
const OVERFLOW_ID = 65534;
/** The initial user namespace maps every id to itself: one line, `0 0 4294967295`. */
const INITIAL_ID_MAP = /^\s*0\s+0\s+4294967295\s*$/;

function overflowId(readText: ReadText, name: string): number {
  try {
    const value = Number.parseInt(readText(`/proc/sys/kernel/${name}`), 10);
    return Number.isNaN(value) ? OVERFLOW_ID : value;
  } catch {
    return OVERFLOW_ID;
  }
}

/**
 * Whether a mount of `table` (`/proc/self/mountinfo`) is idmapped
 * (`mount_setattr(2)` with `MOUNT_ATTR_IDMAP`, as container runtimes make
 * them): there, in the initial user namespace too, `stat` shows an owner
 * the mount does not map as the overflow id, and a file given to 65534
 * through it goes to whoever the mount maps there.
 */
function listsIdmappedMount(table: string): boolean {
  // The sixth field: the mount's own options.
  return table.split("\n").some((line) =>
    line.split(" ")[5]?.split(",").includes("idmapped")
  );
}

/** How long what the mount table said of idmapped mounts is trusted: 50 ms. */
const IDMAPPED_RECHECK_MS = 50;

/**
 * Owner ids as the library takes them from `stat`. Inside a user namespace
 * (a rootless container, `unshare --user`), `stat` shows every owner that
 * the namespace does not map as one placeholder id, the kernel's overflow
 * id (65534, "nobody"): a file of uid 65534 there may belong to anyone, and
 * giving a new file to 65534 would give it to whoever the namespace maps
 * there. Such an id becomes `UNKNOWN_OWNER`: its owner is not kept (the
 * writer's is), and the bits that only that owner or group should have are
 * not passed on (see `_owner_and_mode.ts`), nor is the entry trusted as the
 * writer's or a sticky directory's own (`_sticky.ts`).
 *
 * Only 65534 is looked at (the overflow ids are configurable, but never
 * changed in practice), and /proc is read only once an entry shows it, once
 * per process: the initial namespace (where 65534 is just `nobody`) is told
 * from `/proc/self/uid_map`. There it is still the placeholder while any
 * idmapped mount is in the mount table (see {@linkcode listsIdmappedMount}).
 * Where `uid_map` cannot be read (Deno without `--allow-all`, Node's
 * permission model, no /proc mounted), 65534 counts
 * as the placeholder, even for a writer that runs as 65534: a file of
 * `nobody` written by root then becomes root's, rather than a file of
 * anyone's becoming `nobody`'s, and `nobody`'s own files count as another
 * user's (a rootless container's `nobody` cannot tell them from the files
 * of the users its namespace does not map, which show as 65534 too).
 */
export class OwnerIds {
  readonly #readText: ReadText;
  /**
   * The placeholder uid and gid; `null` in the initial user namespace;
   * `undefined`: not read yet.
   */
  #placeholders: { uid: number; gid: number } | null | undefined;
  /**
   * Whether the mount table lists an idmapped mount, and when it was read:
   * trusted for {@linkcode IDMAPPED_RECHECK_MS}, so that the owner and the
   * group of one entry, and the entries of a burst of writes, cost one read
   * (with thousands of mounts, a read costs milliseconds).
   */
  #idmapped = { found: false, at: -Infinity };

  constructor(readText: ReadText) {
    this.#readText = readText;
  }

  /**
   * `uid` as `stat` showed it, or `UNKNOWN_OWNER` if it may stand for an
   * owner this namespace does not map: 65534 is unknown even where the
   * writer runs as 65534 (its own files cannot be told from the unmapped
   * owners' there: taking them for its own would let it follow another
   * user's link or replace another user's file in a sticky directory, and
   * keep their set-user-ID bit).
   */
  uid(uid: number): number {
    return this.#isPlaceholder(uid, "uid") ? UNKNOWN_OWNER : uid;
  }

  /** `gid` as `stat` showed it, or `UNKNOWN_OWNER` (as {@linkcode OwnerIds.uid}). */
  gid(gid: number): number {
    return this.#isPlaceholder(gid, "gid") ? UNKNOWN_OWNER : gid;
  }

  #isPlaceholder(id: number, kind: "uid" | "gid"): boolean {
    if (id !== OVERFLOW_ID) return false;
    const placeholder = this.#placeholder();
    if (placeholder === null) return this.#hasIdmappedMount();
    return placeholder[kind] === id;
  }

  /**
   * Whether the mount table lists an idmapped mount (see
   * {@linkcode listsIdmappedMount}): read when an entry of 65534 is seen,
   * at most every 50 ms (a mount can be made at any time); `true` where it
   * cannot be read.
   */
  #hasIdmappedMount(): boolean {
    const now = monotonic();
    const known = this.#idmapped;
    if (now - known.at < IDMAPPED_RECHECK_MS) return known.found;
    let table: string;
    try {
      table = this.#readText("/proc/self/mountinfo");
    } catch {
      return true;
    }
    this.#idmapped = { found: listsIdmappedMount(table), at: now };
    return this.#idmapped.found;
  }

  #placeholder(): { uid: number; gid: number } | null {
    if (this.#placeholders !== undefined) return this.#placeholders;
    let map: string | null = null;
    // Cannot tell: as inside a namespace, and for good, but for a failure
    // that may pass (out of descriptors): then only for this call.
    let lasting = true;
    try {
      map = this.#readText("/proc/self/uid_map");
    } catch (error) {
      lasting = !isTransient(error);
    }
    const placeholders = map !== null && INITIAL_ID_MAP.test(map) ? null : {
      uid: overflowId(this.#readText, "overflowuid"),
      gid: overflowId(this.#readText, "overflowgid"),
    };
    if (lasting) this.#placeholders = placeholders;
    return placeholders;
  }
}
