/**
 * The atomic-replace algorithm, written once. Each phase is a generator of
 * adapter requests (see `_steps.ts`), driven by `runSync` for the
 * synchronous API and by `runAsync` for the asynchronous one:
 *
 * 1. {@linkcode prepare}: find the real target (following symbolic links),
 *    create a fresh temporary file beside it, exclusively, with the target's
 *    permissions and owner;
 * 2. {@linkcode writeAll}: write every byte (short writes are resumed);
 * 3. {@linkcode commit}: fsync, close, rename (or link, to create only if
 *    absent), fsync the directory;
 * 4. {@linkcode discard} on any failure or abort: close and remove the
 *    temporary file; the target is never touched before the rename.
 */
import { basename, dirname, isAbsolute, sep } from "node:path";
import { AtomicWriteError } from "./atomic_write_error.ts";
import { errorCode } from "./_error_code.ts";
import type { ResolvedOptions } from "./_validate.ts";
import type { Ticket } from "./_path_queue.ts";
import type {
  AdapterError,
  EntryInfo,
  OpenFile,
  ProcessIds,
  StickyProtections,
} from "./runtime/types.ts";
import {
  perform,
  type Request,
  request,
  settle,
  type Steps,
  waitFor,
} from "./_steps.ts";
import { tempName, type TempOwner } from "./_temp_name.ts";

/** Facts about the process the algorithm needs. */
export interface Host {
  /** Who writes; `null`: unknown (the runtime would not tell). */
  ids: ProcessIds | null;
  /** The kernel's sticky-directory protections, read when needed. */
  protections(): StickyProtections;
  pid: number;
  renameRetryCodes: ReadonlySet<string>;
}

/** The state of one atomic replacement, shared by its phases. */
export interface Replacement {
  /** The absolute path the caller named. */
  readonly target: string;
  /** The file actually replaced: `target` with symbolic links followed. */
  final: string;
  /** The temporary file, while it exists. */
  temp: string | null;
  /** When `temp` was named (`Date.now()`): a long write is located before its close (see `commit`). */
  tempSince: number;
  /**
   * Where the descriptor said the temporary file was, if asked: a directory
   * above it may have been renamed meanwhile, and `discard` removes it there.
   */
  located: string | null;
  /** The temporary file, while it is open. */
  file: OpenFile | null;
  /** Whether the new content is in place. */
  committed: boolean;
  readonly options: ResolvedOptions;
  readonly host: Host;
  /** Temporary files of this process that exist now, removed at exit. */
  readonly inFlight: Set<string>;
  /** This write's place among writes to the same path, for the async API. */
  ticket: Ticket | null;
}

const MAX_LINK_HOPS = 40;
const MAX_NAME_ATTEMPTS = 16;
/**
 * The most bytes one write call is given: Node and Bun refuse a buffer of
 * 2 GiB or more (`ERR_OUT_OF_RANGE`) where Deno takes it, and Linux writes
 * at most 2 GiB less 4 KiB per call anyway. 1 GiB keeps every runtime alike.
 */
export const MAX_WRITE_BYTES = 1 << 30;
/**
 * The code for a FIFO, socket or device target (also behind links): atomic
 * replacement has no meaning for them, and replacing one by a regular file
 * would break whoever uses it. `ENOTSUP`, "not supported for this kind of
 * file", the same on every runtime.
 */
export const SPECIAL_FILE_CODE = "ENOTSUP";
/** Backoff for transient rename failures (Windows scanners): about 1.3 s in all. */
const RETRY_DELAYS_MS = [5, 10, 20, 40, 80, 160, 320, 640];

/** The error's system code; an error without one is reported as `EIO`. */
function codeOf(error: unknown): string {
  return errorCode(error) ?? "EIO";
}

function failure(
  s: Replacement,
  operation: string,
  path: string,
  cause: unknown,
): unknown {
  if (cause instanceof AtomicWriteError) return cause;
  const reason = (cause as Partial<AdapterError> | null)?.reason;
  return new AtomicWriteError(
    { code: codeOf(cause), operation, path, target: s.target, cause, reason },
    s.committed,
  );
}

/** A failure the algorithm itself detects, with no runtime error behind it. */
function problem(
  s: Replacement,
  code: string,
  operation: string,
  path: string,
  reason: string,
): AtomicWriteError {
  return new AtomicWriteError({
    code,
    operation,
    path,
    target: s.target,
    reason,
  });
}

/** Runs one request; a failure becomes an {@linkcode AtomicWriteError} naming `operation` and `path`. */
function* act<T>(
  s: Replacement,
  operation: string,
  path: string,
  req: Request<T>,
): Steps<T> {
  try {
    return yield* perform(req);
  } catch (error) {
    throw failure(s, operation, path, error);
  }
}

/** Closes and removes the temporary file, if any; never throws. */
export function* discard(s: Replacement): Steps<void> {
  const { file, temp } = s;
  s.file = null;
  s.temp = null;
  let where = s.located;
  s.located = null;
  if (file !== null) {
    // The descriptor knows where the file is, even if a directory was renamed.
    const found = yield* settle(request("locate", file));
    if (found.ok && found.value !== null) where = found.value;
    yield* settle(request("close", file));
  }
  if (temp !== null) {
    const removed = yield* settle(request("remove", where ?? temp));
    // If removal failed for another reason, the exit cleanup or
    // removeStaleTemps() still knows the name.
    if (removed.ok || codeOf(removed.error) === "ENOENT") {
      s.inFlight.delete(temp);
    }
  }
}

/** Runs `steps`; on any failure discards the temporary file and rethrows. */
export function* orDiscard<T>(s: Replacement, steps: Steps<T>): Steps<T> {
  try {
    return yield* steps;
  } catch (error) {
    yield* discard(s);
    throw error;
  }
}

/**
 * `name` inside `dir`, joined as text without normalizing `..`: the kernel
 * resolves `alias/..` through the link, where `path.join` would drop both.
 */
function inDirectory(dir: string, name: string): string {
  return dir.endsWith(sep) ? dir + name : dir + sep + name;
}

/** Where a symbolic link at `link` that holds `content` leads (relative to the link's directory). */
function followLink(link: string, content: string): string {
  return isAbsolute(content) ? content : inDirectory(dirname(link), content);
}

/** Whether `path` can only name a directory (`dir/`, `dir/.`, `dir/..`). */
function namesDirectory(path: string): boolean {
  const name = basename(path);
  return path.endsWith(sep) || path.endsWith("/") || name === "." ||
    name === "..";
}

/** Picks a new temporary name beside the target and records it as in flight. */
function nextTempPath(s: Replacement): string {
  const path = inDirectory(
    dirname(s.final),
    tempName(basename(s.final), s.host.pid),
  );
  s.temp = path;
  s.tempSince = Date.now();
  s.inFlight.add(path);
  return path;
}

/** Forgets a temporary name whose creation failed: it is not ours to remove. */
function forgetTemp(s: Replacement, path: string): void {
  s.temp = null;
  s.inFlight.delete(path);
}

/**
 * Refuses a path that names a directory the way `open(2)` does: its
 * directory's error (`ENOENT`, `ENOTDIR`) if that cannot be reached,
 * `EISDIR` otherwise.
 */
function* refuseDirectoryPath(s: Replacement): Steps<never> {
  const trailing = s.target.endsWith(sep) || s.target.endsWith("/");
  const probe = trailing ? dirname(s.target) : s.target;
  const found = yield* settle(request("stat", probe));
  if (!found.ok) throw failure(s, "stat", probe, found.error);
  if (found.value === null) {
    throw problem(s, "ENOENT", "stat", probe, "no such directory");
  }
  throw problem(s, "EISDIR", "replace", s.target, "the path names a directory");
}

/** Refuses a target that atomic replacement has no meaning for. */
function refuseKind(s: Replacement, entry: EntryInfo, path: string): void {
  if (entry.kind === "directory") {
    throw problem(s, "EISDIR", "replace", path, "the target is a directory");
  }
  if (entry.kind !== "file" && entry.kind !== "symlink") {
    throw problem(
      s,
      SPECIAL_FILE_CODE,
      "replace",
      path,
      `the target is a ${entry.kind}, not a regular file: only regular files can be replaced atomically`,
    );
  }
}

/** Whether `dir` is sticky and writable by everyone (`/tmp`), or by its group when `groupToo`. */
function isSharedSticky(dir: EntryInfo, groupToo: boolean): boolean {
  if ((dir.mode & 0o1000) === 0) return false;
  return (dir.mode & 0o002) !== 0 || (groupToo && (dir.mode & 0o020) !== 0);
}

/**
 * Whether the kernel's sticky-directory rules let the writer trust an entry
 * owned by `uid` in `dir`: the writer or the directory's owner made it. An
 * unknown writer (the runtime would not say) is trusted only where the
 * directory's owner made the entry.
 */
function isTrustedOwner(s: Replacement, uid: number, dir: EntryInfo): boolean {
  return uid === dir.uid || (s.host.ids !== null && uid === s.host.ids.uid);
}

/** The directory holding `path`, described (following links). */
function* parentOf(s: Replacement, path: string): Steps<EntryInfo | null> {
  const dir = dirname(path);
  return yield* act(s, "stat", dir, request("stat", dir));
}

/** The refusal the kernel gives in a shared sticky directory. */
function stickyRefusal(
  s: Replacement,
  path: string,
  what: string,
  uid: number,
  sysctl: string,
): AtomicWriteError {
  return problem(
    s,
    "EACCES",
    "replace",
    path,
    `${what} belongs to another user (uid ${uid}) in a sticky world-writable directory; the kernel refuses this too (${sysctl})${
      s.host.ids === null
        ? "; this process's own uid is unknown (the runtime would not tell)"
        : ""
    }`,
  );
}

/**
 * `fs.protected_symlinks`, in user space: a link in a shared sticky
 * directory (`/tmp`) is followed only if the writer or the directory's owner
 * made it, else another user could aim the write at any file.
 */
function* checkStickyLink(s: Replacement, link: EntryInfo): Steps<void> {
  if (s.host.ids !== null && link.uid === s.host.ids.uid) return;
  const dir = yield* parentOf(s, s.final);
  if (dir === null || !isSharedSticky(dir, false)) return;
  if (isTrustedOwner(s, link.uid, dir)) return;
  if ((s.host.protections().symlinks ?? 1) === 0) return;
  throw stickyRefusal(
    s,
    s.final,
    "the symbolic link",
    link.uid,
    "fs.protected_symlinks",
  );
}

/**
 * `fs.protected_regular`, in user space: in a shared sticky directory, a file
 * that another user made is neither replaced nor given the writer's data
 * with that user as owner (they could have made it world-writable first).
 */
function* checkStickyOwner(s: Replacement, file: EntryInfo): Steps<void> {
  if (file.uid < 0) return; // no owners on this platform
  if (s.host.ids !== null && file.uid === s.host.ids.uid) return;
  const dir = yield* parentOf(s, s.final);
  if (dir === null || isTrustedOwner(s, file.uid, dir)) return;
  const level = s.host.protections().regular ?? 1;
  if (level === 0 || !isSharedSticky(dir, level >= 2)) return;
  throw stickyRefusal(s, s.final, "the file", file.uid, "fs.protected_regular");
}

/**
 * Refuses a chain of links that ends at a directory or a special file,
 * before any temporary file exists: `/dev/stdout` leads to a pipe that has
 * no path to follow at all.
 */
function* refuseSpecialEnd(s: Replacement): Steps<void> {
  const end = yield* act(s, "stat", s.final, request("stat", s.final));
  if (end !== null) refuseKind(s, end, s.final);
}

/**
 * Finds the file to replace, as the kernel would open it: final symbolic
 * links are followed relative to the directory that holds them, `..` is left
 * to the kernel. Refuses directories and special files (also behind links),
 * and what the kernel's sticky-directory protections would refuse. Returns
 * the existing file, or `null` for a new one; `s.final` is then its path.
 */
function* resolveTarget(s: Replacement): Steps<EntryInfo | null> {
  if (namesDirectory(s.target)) yield* refuseDirectoryPath(s);
  for (let hops = 0;; hops++) {
    const entry = yield* act(s, "stat", s.final, request("lstat", s.final));
    if (entry === null) return null;
    refuseKind(s, entry, s.final);
    if (entry.kind === "file") {
      yield* checkStickyOwner(s, entry);
      return entry;
    }
    if (hops >= MAX_LINK_HOPS) {
      throw problem(
        s,
        "ELOOP",
        "follow symbolic link",
        s.final,
        "too many links",
      );
    }
    yield* checkStickyLink(s, entry);
    if (hops === 0) yield* refuseSpecialEnd(s);
    const link = yield* act(
      s,
      "readlink",
      s.final,
      request("readLink", s.final),
    );
    s.final = followLink(s.final, link);
  }
}
/**
 * Creates the temporary file beside the target, exclusively, with `mode`: a
 * name collision retries with a new name, a missing directory is created
 * when the `mkdir` option is set.
 */
function* createTemp(s: Replacement, mode: number): Steps<void> {
  let madeDirectory = false;
  for (let attempt = 1;; attempt++) {
    const path = nextTempPath(s);
    const result = yield* settle(request("createExclusive", path, mode));
    if (result.ok) {
      s.file = result.value;
      return;
    }
    forgetTemp(s, path);
    const code = codeOf(result.error);
    if (code === "ENOENT" && s.options.mkdir && !madeDirectory) {
      const dir = dirname(s.final);
      yield* act(s, "create directory", dir, request("mkdir", dir));
      madeDirectory = true;
    } else if (code !== "EEXIST" || attempt >= MAX_NAME_ATTEMPTS) {
      throw failure(s, "create temporary file", path, result.error);
    }
  }
}

/**
 * `mode` without set-user-ID, set-group-ID and sticky: what a fresh file may
 * carry before its owner is set (a chown would clear them anyway).
 */
function withoutSpecialBits(mode: number): number {
  return mode & 0o777;
}

/**
 * `mode` with the group's bits cut down to everyone else's: for a file whose
 * group becomes the writer's, where the old group's members must get no more
 * than anyone.
 */
export function capGroupToOther(mode: number): number {
  return mode & (~0o070 | ((mode & 0o007) << 3));
}

/**
 * The permission bits the new file ends with: the `mode` option, else the
 * existing file's bits; `null` for a new file without the option (what a
 * plain create gives: 0o666 less the umask in force, applied by the kernel).
 */
function wantedMode(s: Replacement, entry: EntryInfo | null): number | null {
  return s.options.mode ?? entry?.mode ?? null;
}

/**
 * Gives the temporary file the existing file's owner (where allowed) and the
 * permission bits `wanted`, set explicitly: whatever the umask is now, and
 * whatever a directory's default ACL gave the fresh file.
 */
function* matchOwnerAndMode(
  s: Replacement,
  entry: EntryInfo | null,
  wanted: number | null,
): Steps<void> {
  const temp = s.temp as string;
  const ids = s.host.ids;
  let mode = wanted;
  if (
    entry !== null && ids !== null && entry.uid >= 0 &&
    (entry.uid !== ids.uid || entry.gid !== ids.gid)
  ) {
    const owner = yield* settle(
      request("chown", s.file, temp, entry.uid, entry.gid),
    );
    // Not allowed to give the file away (not root): keep at least the group.
    const groupKept = owner.ok || entry.gid === ids.gid ||
      (yield* settle(request("chown", s.file, temp, -1, entry.gid))).ok;
    if (!groupKept && s.options.mode === undefined && mode !== null) {
      mode = capGroupToOther(mode);
    }
  }
  // After the chown, which clears set-user-ID and set-group-ID.
  if (mode !== null) {
    yield* act(s, "chmod", temp, request("chmod", s.file, temp, mode));
  }
}

/**
 * Makes the temporary file: resolve the target, create the temporary file
 * beside it (never wider than the result will be), then match the existing
 * file's owner and permission bits. A failure after the create removes it.
 */
export function* prepare(s: Replacement): Steps<void> {
  s.options.signal?.throwIfAborted();
  const entry = yield* resolveTarget(s);
  const wanted = wantedMode(s, entry);
  yield* createTemp(s, wanted === null ? 0o666 : withoutSpecialBits(wanted));
  yield* orDiscard(s, finishTemp(s, entry, wanted));
}

/** The last steps of `prepare`, which discard the temporary file if they fail. */
function* finishTemp(
  s: Replacement,
  entry: EntryInfo | null,
  wanted: number | null,
): Steps<void> {
  yield* matchOwnerAndMode(s, entry, wanted);
  // An abort during the steps above fired its event before anyone listened.
  s.options.signal?.throwIfAborted();
}

/**
 * Writes all of `bytes` to the temporary file in calls of at most
 * {@linkcode MAX_WRITE_BYTES}, resuming after short writes.
 */
export function* writeAll(s: Replacement, bytes: Uint8Array): Steps<void> {
  let offset = 0;
  while (offset < bytes.length) {
    s.options.signal?.throwIfAborted();
    const rest = offset === 0 && bytes.length <= MAX_WRITE_BYTES
      ? bytes
      : bytes.subarray(offset, offset + MAX_WRITE_BYTES);
    const written = yield* act<number>(
      s,
      "write",
      s.temp as string,
      request("write", s.file, rest),
    );
    if (written <= 0) {
      throw problem(s, "EIO", "write", s.temp as string, "no bytes written");
    }
    offset += written;
  }
}

/**
 * A rename's `EBUSY` where it is not transient (not Windows): a regular file
 * is then busy only as a mount point, a file mounted onto the target as
 * Docker does for single files, which no rename can replace.
 */
function mountPointFailure(s: Replacement, error: unknown): AtomicWriteError {
  return new AtomicWriteError({
    code: "EBUSY",
    operation: "rename",
    path: s.final,
    target: s.target,
    cause: error,
    reason:
      "the target is a mount point (a file mounted onto it, as Docker does for single files); mount its directory instead",
  });
}

/** Renames (or links) the temporary file onto the target, retrying transient failures. */
function* publish(s: Replacement, temp: string): Steps<void> {
  const op = s.options.overwrite ? "rename" : "link";
  for (let attempt = 0;; attempt++) {
    try {
      yield* perform(request(op, temp, s.final));
      return;
    } catch (error) {
      const delay = RETRY_DELAYS_MS[attempt];
      const code = codeOf(error);
      if (!s.host.renameRetryCodes.has(code)) {
        throw code === "EBUSY" && op === "rename"
          ? mountPointFailure(s, error)
          : failure(s, op, s.final, error);
      }
      if (delay === undefined) throw failure(s, op, s.final, error);
      yield* perform(request("sleep", delay));
    }
  }
}

/**
 * How long a write must have taken before `commit` asks the descriptor where
 * the temporary file is (one readlink), in case a directory above it was
 * renamed meanwhile and the rename fails: after the close, nothing knows.
 * Shorter writes skip the call; a rename in their window leaves a temporary
 * file that `removeStaleTemps` sweeps once the process is gone.
 */
const LOCATE_AFTER_MS = 1000;

/** Makes the temporary file the target: fsync, close, rename, fsync the directory. */
export function* commit(s: Replacement): Steps<void> {
  const temp = s.temp as string;
  s.options.signal?.throwIfAborted();
  if (s.options.fsync) yield* act(s, "fsync", temp, request("sync", s.file));
  if (Date.now() - s.tempSince >= LOCATE_AFTER_MS) {
    const found = yield* settle(request("locate", s.file));
    s.located = found.ok ? found.value : null;
  }
  const file = s.file;
  s.file = null;
  yield* act(s, "close", temp, request("close", file));
  if (s.ticket?.mayRename) yield* waitFor(s.ticket.mayRename, s.options.signal);
  s.options.signal?.throwIfAborted();
  yield* publish(s, temp);
  s.committed = true;
  s.ticket?.renamed();
  if (s.options.overwrite) {
    s.temp = null;
    s.inFlight.delete(temp);
  } else {
    // The link made the target; the temporary name goes (best effort: it is
    // now just a second name of the target).
    yield* discard(s);
  }
  const dir = dirname(s.final);
  if (s.options.fsync) {
    yield* act(s, "fsync directory", dir, request("syncDir", dir));
  }
}

/** The whole replacement with one buffer of content. */
export function* replace(s: Replacement, bytes: Uint8Array): Steps<void> {
  yield* prepare(s);
  yield* orDiscard(s, writeThenCommit(s, bytes));
}

function* writeThenCommit(s: Replacement, bytes: Uint8Array): Steps<void> {
  yield* writeAll(s, bytes);
  yield* commit(s);
}
