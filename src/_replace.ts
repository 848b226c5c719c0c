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
import { basename, dirname, join, resolve } from "node:path";
import { AtomicWriteError } from "./atomic_write_error.ts";
import { errorCode } from "./_error_code.ts";
import type { ResolvedOptions } from "./_validate.ts";
import type { Ticket } from "./_path_queue.ts";
import type { EntryInfo, OpenFile, ProcessIds } from "./runtime/types.ts";
import {
  both,
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
  /** Read once per process; `null`: unknown (the runtime would not tell). */
  umask: number | null;
  ids: ProcessIds | null;
  /** Who makes the temporary files, as their names say. */
  owner: TempOwner;
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
  /** What earlier writes learnt: the permission bits of the last target replaced. */
  readonly hints: { mode: number | null };
}

const MAX_LINK_HOPS = 40;
const MAX_NAME_ATTEMPTS = 16;
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
  return new AtomicWriteError(
    { code: codeOf(cause), operation, path, target: s.target, cause },
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

/** Picks a new temporary name beside the target and records it as in flight. */
function nextTempPath(s: Replacement): string {
  const path = join(
    dirname(s.final),
    tempName(basename(s.final), s.host.owner),
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
 * Creates the temporary file, after a `failed` first attempt if there was
 * one: a name collision retries with a new name, a missing directory is
 * created when the `mkdir` option is set.
 */
function* openTemp(
  s: Replacement,
  mode: number,
  failed?: { path: string; error: unknown },
): Steps<void> {
  let madeDirectory = false;
  for (let attempt = 1;; attempt++) {
    if (failed !== undefined) {
      const code = codeOf(failed.error);
      if (code === "ENOENT" && s.options.mkdir && !madeDirectory) {
        const dir = dirname(s.final);
        yield* act(s, "create directory", dir, request("mkdir", dir));
        madeDirectory = true;
      } else if (code !== "EEXIST" || attempt > MAX_NAME_ATTEMPTS) {
        throw failure(s, "create temporary file", failed.path, failed.error);
      }
    }
    const path = nextTempPath(s);
    const result = yield* settle(request("createExclusive", path, mode));
    if (result.ok) {
      s.file = result.value;
      return;
    }
    forgetTemp(s, path);
    failed = { path, error: result.error };
  }
}

/**
 * The mode to ask for so that the kernel gives what a plain create gives:
 * 0o666 less the umask (which the kernel takes off again, harmlessly).
 */
function plainCreate(s: Replacement): number {
  return s.host.umask === null ? 0o666 : 0o666 & ~s.host.umask;
}

/**
 * Codes with which a chown the caller asked for may fail without failing the
 * write, as with `fs.chown` under write-file-atomic and atomically: the file
 * system has no owners (`ENOSYS`), or a non-root process may not give files
 * away (`EPERM`, `EINVAL`).
 */
function chownRefusalIsFine(code: string, ids: ProcessIds | null): boolean {
  if (code === "ENOSYS") return true;
  const root = ids !== null && ids.uid === 0;
  return !root && (code === "EPERM" || code === "EINVAL");
}

/** Gives the temporary file the owner and group asked for; whether it did. */
function* chownAsAsked(
  s: Replacement,
  owner: { uid: number; gid: number },
): Steps<boolean> {
  const ids = s.host.ids;
  if (ids !== null && owner.uid === ids.uid && owner.gid === ids.gid) {
    return false; // already ours
  }
  const temp = s.temp as string;
  const result = yield* settle(
    request("chown", s.file, temp, owner.uid, owner.gid),
  );
  if (result.ok) return true;
  if (chownRefusalIsFine(codeOf(result.error), ids)) return false;
  throw failure(s, "chown", temp, result.error);
}

/**
 * Gives the temporary file the target's owner (where allowed) and the final
 * permission bits `wanted` (`null`: what a plain create gives, already set by
 * the kernel). The file was created with `createdWith`, never wider than
 * `wanted`; the umask may have narrowed it further.
 */
function* applyOwnerAndMode(
  s: Replacement,
  entry: EntryInfo | null,
  wanted: number | null,
  createdWith: number,
): Steps<void> {
  const temp = s.temp as string;
  let mode = wanted;
  let chowned = false;
  const ids = s.host.ids;
  const owner = s.options.owner;
  if (typeof owner === "object") {
    chowned = yield* chownAsAsked(s, owner);
  } else if (
    owner === "target" && entry !== null && ids !== null && entry.uid >= 0 &&
    (entry.uid !== ids.uid || entry.gid !== ids.gid)
  ) {
    const owner = yield* settle(
      request("chown", s.file, temp, entry.uid, entry.gid),
    );
    chowned = owner.ok;
    // Not allowed to give the file away (not root): keep at least the group.
    const groupKept = owner.ok || entry.gid === ids.gid ||
      (yield* settle(request("chown", s.file, temp, -1, entry.gid))).ok;
    // The group changes to ours: its members get no more than everyone else.
    if (!groupKept && s.options.mode === undefined && mode !== null) {
      mode &= ~0o070 | ((mode & 0o007) << 3);
    }
  }
  // An explicit `mode` is applied whatever the umask; otherwise only when the
  // umask (read once per process) or a chown changed the bits, or the umask is
  // unknown.
  const created = s.host.umask === null ? null : createdWith & ~s.host.umask;
  if (
    mode !== null &&
    (s.options.mode !== undefined || mode !== created ||
      (chowned && (mode & 0o6000) !== 0))
  ) {
    yield* act(s, "chmod", temp, request("chmod", s.file, temp, mode));
  }
}

/**
 * Creates the temporary file beside the real target. The first attempt runs
 * in parallel with the target's lstat, with the permission bits the last
 * target had (so usually the right ones); it is redone only in the rare cases
 * where the lstat shows it was made in the wrong place (the target is a
 * symbolic link) or with bits the target does not have: the temporary file
 * is never readable or writable by more users than the target.
 */
export function* prepare(s: Replacement): Steps<void> {
  for (let hops = 0;; hops++) {
    s.options.signal?.throwIfAborted();
    const predicted = s.options.mode ??
      (s.options.keepMode ? s.hints.mode : null) ?? plainCreate(s);
    const temp = nextTempPath(s);
    const [stat, created] = yield* both(
      request("lstat", s.final),
      request("createExclusive", temp, predicted),
    );
    if (created.ok) s.file = created.value;
    else forgetTemp(s, temp);

    if (!stat.ok) {
      yield* discard(s);
      throw failure(s, "stat", s.final, stat.error);
    }
    const entry = stat.value;
    if (entry?.kind === "symlink") {
      yield* discard(s);
      if (hops >= MAX_LINK_HOPS) {
        throw problem(
          s,
          "ELOOP",
          "follow symbolic link",
          s.final,
          "too many links",
        );
      }
      const link = yield* act(
        s,
        "readlink",
        s.final,
        request("readLink", s.final),
      );
      s.final = resolve(dirname(s.final), link);
      continue;
    }
    if (entry?.kind === "directory") {
      yield* discard(s);
      throw problem(
        s,
        "EISDIR",
        "replace",
        s.final,
        "the target is a directory",
      );
    }
    if (entry !== null) s.hints.mode = entry.mode;
    // null: a new file gets what a plain create (0o666) gets from the umask.
    const wanted = s.options.mode ??
      (s.options.keepMode ? entry?.mode : null) ?? null;
    const fits = wanted === null
      ? predicted === plainCreate(s)
      : (predicted & ~wanted & 0o7777) === 0;
    let mode = predicted;
    if (!created.ok || !fits) {
      yield* discard(s);
      mode = wanted ?? plainCreate(s);
      yield* openTemp(
        s,
        mode,
        created.ok ? undefined : { path: temp, error: created.error },
      );
    }
    yield* orDiscard(s, finishTemp(s, entry, wanted, mode));
    return;
  }
}

/** The last steps of `prepare`, which discard the temporary file if they fail. */
function* finishTemp(
  s: Replacement,
  entry: EntryInfo | null,
  wanted: number | null,
  createdWith: number,
): Steps<void> {
  yield* applyOwnerAndMode(s, entry, wanted, createdWith);
  const tempCreated = s.options.tempCreated;
  if (tempCreated !== undefined) {
    const result = tempCreated(s.temp as string);
    if (result instanceof Promise) yield* waitFor(result, s.options.signal);
  }
  // An abort during the steps above fired its event before anyone listened.
  s.options.signal?.throwIfAborted();
}

/** Writes all of `bytes` to the temporary file, resuming after short writes. */
export function* writeAll(s: Replacement, bytes: Uint8Array): Steps<void> {
  let offset = 0;
  while (offset < bytes.length) {
    s.options.signal?.throwIfAborted();
    const rest = offset === 0 ? bytes : bytes.subarray(offset);
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

/** Renames (or links) the temporary file onto the target, retrying transient failures. */
function* publish(s: Replacement, temp: string): Steps<void> {
  const op = s.options.overwrite ? "rename" : "link";
  for (let attempt = 0;; attempt++) {
    try {
      yield* perform(request(op, temp, s.final));
      return;
    } catch (error) {
      const delay = RETRY_DELAYS_MS[attempt];
      if (delay === undefined || !s.host.renameRetryCodes.has(codeOf(error))) {
        throw failure(s, op, s.final, error);
      }
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
