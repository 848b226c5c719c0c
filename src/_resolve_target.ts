/**
 * Finding the file to replace, as the kernel would open it: links followed
 * from the directory that holds them, `..` left to the kernel, and the
 * targets that atomic replacement has no meaning for refused before any
 * temporary file exists.
 */
import { basename, dirname, isAbsolute, sep } from "node:path";
import type { EntryInfo } from "./runtime/types.ts";
import { both, request, settle, type Steps } from "./_steps.ts";
import { refuseMountPoint } from "./_mount_point.ts";
import {
  act,
  failure,
  inDirectory,
  problem,
  type Resolution,
} from "./_replacement.ts";
import { checkStickyLink, checkStickyOwner, plantedBy } from "./_sticky.ts";
import { codeOf } from "./_error_code.ts";

const MAX_LINK_HOPS = 40;

/**
 * The code for a FIFO, socket or device target (also behind links): atomic
 * replacement has no meaning for them, and replacing one by a regular file
 * would break whoever uses it. `ENOTSUP`, "not supported for this kind of
 * file", the same on every runtime.
 */
const SPECIAL_FILE_CODE = "ENOTSUP";

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

/**
 * Refuses `path` (the target, or where a link leads), which names a
 * directory, the way `open(2)` with `O_CREAT` does: what looking into its
 * directory says (`ENOENT`, `ENOTDIR`, `EACCES` where it may not be
 * searched, `ELOOP`), else `EISDIR`; with `O_EXCL` (`overwrite: false`),
 * `EEXIST` for a `dir/.` or `dir/..` that exists. The kernel never looks at
 * the last name of a `name/` (`open(2)` says `EISDIR` for any), so neither
 * does the probe: `dir/.` for it, which also makes a link at `dir` one on
 * the way, not the last name (`fs.protected_symlinks` checks only that).
 */
function* refuseDirectoryPath(
  s: Resolution,
  path: string,
  creating: boolean,
): Steps<never> {
  const trailing = path.endsWith(sep) || path.endsWith("/");
  const probe = trailing ? inDirectory(dirname(path), ".") : path;
  const found = yield* settle(request("stat", probe));
  if (!found.ok) throw failure(s, "stat", probe, found.error);
  if (found.value === null) {
    throw problem(s, "ENOENT", "stat", probe, "no such directory");
  }
  if (found.value.kind !== "directory") {
    throw problem(s, "ENOTDIR", "stat", probe, "not a directory");
  }
  if (creating && !trailing) {
    throw problem(s, "EEXIST", "link", path, "a directory has the name");
  }
  throw problem(s, "EISDIR", "replace", path, "the path names a directory");
}

/** Refuses a target that atomic replacement has no meaning for. */
function refuseKind(s: Resolution, entry: EntryInfo, path: string): void {
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

/**
 * Refuses to follow the link the caller named where the runtime's
 * permissions forbid writing it by that name (Deno's `--allow-write`, Node's
 * `--permission`), as they refuse a plain write to it: they check the name
 * they are given, and the library, following the link itself, would
 * otherwise only be checked where it leads.
 */
function checkNamedLink(s: Resolution): void {
  try {
    s.host.checkWrite(s.final);
  } catch (error) {
    throw failure(s, "follow symbolic link", s.final, error);
  }
}

/** What the kernel's own walk of a chain of links says of its end. */
interface ChainEnd {
  /** The file it opens: `null` if none, or if only the walk link by link can tell. */
  readonly opened: EntryInfo | null;
  /** Its `ELOOP`, if it follows the chain no further (see {@linkcode refuseUnfollowed}). */
  readonly loop: unknown;
}

/**
 * Refuses a chain of links that ends at a directory or a special file,
 * before any temporary file exists: `/dev/stdout` leads to a pipe that has
 * no path to follow at all. Returns what the kernel says of the chain's end.
 */
function* refuseSpecialEnd(s: Resolution): Steps<ChainEnd> {
  const end = yield* settle(request("stat", s.final));
  // A link on the way names a path under a file or one that must be a
  // directory (`file/`: ENOTDIR), or loops (`link/` to itself: ELOOP): the
  // walk link by link then says what open(2) would (EISDIR for a `…/`).
  if (!end.ok && codeOf(end.error) === "ENOTDIR") {
    return { opened: null, loop: null };
  }
  if (!end.ok && codeOf(end.error) === "ELOOP") {
    return { opened: null, loop: end.error };
  }
  if (!end.ok) throw failure(s, "stat", s.final, end.error);
  if (end.value !== null) refuseKind(s, end.value, s.final);
  return { opened: end.value, loop: null };
}

/**
 * Refuses a chain of links that the walk link by link followed to its end
 * where the kernel would not (its `stat` said `ELOOP`, as `open(2)` would): a
 * link on a mount with `nosymfollow`, which exists so that no link of an
 * untrusted file system is ever followed, or more links than the kernel
 * follows in one path.
 */
function refuseUnfollowed(s: Resolution, loop: unknown): never {
  throw problem(
    s,
    "ELOOP",
    "follow symbolic link",
    s.target,
    "the kernel does not follow this chain of symbolic links (a link on a mount with nosymfollow, or more links than it follows), and neither does the library",
    loop,
  );
}

/**
 * Refuses, with the kernel's `ELOOP`, a link whose text names a directory
 * (`f/`) where the kernel never got as far as that text: `open(2)` says
 * `EISDIR` for such a text only once it has followed every link before it.
 * Its `stat` of the chain said `ELOOP`; had it followed this far, it would
 * have said what the text leads to, unless that is a link again (`link ->
 * link/`, which loops: `open(2)` says `EISDIR` there, and so does the walk).
 */
function* refuseUnfollowedBefore(s: Resolution, loop: unknown): Steps<void> {
  const end = s.final.replace(/[\\/]+$/, "");
  const found = yield* settle(request("lstat", end));
  if (found.ok && found.value?.kind === "symlink") return;
  refuseUnfollowed(s, loop);
}

/**
 * Whether the symbolic link at `path` is one of /proc's (`/proc/self/fd/1`,
 * which `/dev/stdout` leads to, `/proc/PID/cwd`, …): the kernel follows it
 * to the open file itself, while its text is only where that file was when
 * it was opened, seen from its opener's mounts.
 */
function isProcLink(path: string): boolean {
  return path.startsWith("/proc/");
}

/**
 * Refuses a path through a link of /proc whose text does not lead back to
 * the file the kernel opens through it (`opened`, or `null` for none): the
 * file was replaced or deleted since it was opened (its text then ends in
 * " (deleted)"), or it was opened in another mount namespace, where the
 * same text names another file. `found` is what the text leads to here.
 */
function refuseStrayProcLink(
  s: Resolution,
  procLink: string,
  opened: EntryInfo | null,
  found: EntryInfo | null,
): void {
  if (opened !== null && found !== null && found.id === opened.id) return;
  throw problem(
    s,
    "ENOENT",
    "follow symbolic link",
    procLink,
    "the file open there has no name that leads back to it (it was replaced or deleted, or it was opened in another mount namespace), so it cannot be replaced by name",
  );
}

/**
 * The `lstat` of `s.final` with, alongside it (no extra round trip), the
 * `stat` of its directory (`null` if that failed): how a file mounted onto
 * the target is told (`_mount_point.ts`).
 */
function* lookWithDirectory(
  s: Resolution,
): Steps<[EntryInfo | null, EntryInfo | null]> {
  const [entry, directory] = yield* both(
    request("lstat", s.final),
    request("stat", dirname(s.final)),
  );
  if (!entry.ok) throw failure(s, "stat", s.final, entry.error);
  return [entry.value, directory.ok ? directory.value : null];
}

/**
 * Finds the file to replace, as the kernel would open it: final symbolic
 * links are followed relative to the directory that holds them, `..` is left
 * to the kernel. Refuses directories and special files (also behind links),
 * what the kernel's sticky-directory protections would refuse, and a file
 * mounted onto the target where that can be told before writing. Returns
 * the existing file, or `null` for a new one; `s.final` is then its path.
 * `named` is the `lstat` of `s.target` if the caller already made it (the
 * lock makes it alongside its first attempt). `intent` says what for:
 * - `"replace"`: a write (the default `overwrite: true`); only it looks for
 *   mount points;
 * - `"create"`: a write with `overwrite: false`, a create-only-if-absent as
 *   `O_EXCL` is: any file at the name makes it fail with `EEXIST` (its
 *   link, race-free, says so for a file; a symbolic link, even a dangling
 *   one, is refused here and never followed), before the sticky-directory
 *   rules, which apply to what would be replaced;
 * - `"lock"`: the lock of an update, which locks what its write replaces,
 *   and leaves mount points to that write.
 */
export function* resolveTarget(
  s: Resolution,
  named?: EntryInfo | null,
  intent: "replace" | "create" | "lock" = "lock",
): Steps<EntryInfo | null> {
  const replacing = intent === "replace";
  const creating = intent === "create";
  if (namesDirectory(s.target)) {
    yield* refuseDirectoryPath(s, s.target, creating);
  }
  let directory: EntryInfo | null | undefined;
  // What the kernel opens through the whole chain, if it has links.
  let chain: ChainEnd | null = null;
  let procLink: string | null = null;
  for (let hops = 0;; hops++) {
    let entry: EntryInfo | null;
    if (hops === 0 && named !== undefined) entry = named;
    else if (hops === 0 && replacing) {
      [entry, directory] = yield* lookWithDirectory(s);
    } else entry = yield* act(s, "stat", s.final, request("lstat", s.final));
    if (procLink !== null && entry?.kind !== "symlink") {
      refuseStrayProcLink(s, procLink, chain?.opened ?? null, entry);
    }
    if (chain?.loop && entry?.kind !== "symlink") {
      refuseUnfollowed(s, chain.loop);
    }
    if (entry === null) return null;
    if (entry.kind === "symlink" && s.final === s.locked) {
      throw problem(
        s,
        "EAGAIN",
        "replace",
        s.final,
        "a symbolic link has taken the name of the file locked since the lock was taken, and is not followed",
      );
    }
    if (creating && entry.kind !== "file") {
      throw problem(
        s,
        "EEXIST",
        "link",
        s.final,
        entry.kind === "symlink"
          ? "a symbolic link has the name, and overwrite: false never follows one"
          : `a ${entry.kind} has the name`,
      );
    }
    refuseKind(s, entry, s.final);
    if (entry.kind === "file") {
      if (hops === 0 && directory !== undefined) s.directory = directory;
      // Not replaced: the link that would create it fails with EEXIST.
      if (creating) {
        // O_EXCL's answer at once for a file another user planted in a
        // shared sticky directory: an update is not to read it into `fn`.
        if ((yield* plantedBy(s, s.final, entry)) !== null) {
          throw problem(
            s,
            "EEXIST",
            "link",
            s.final,
            "another user's file has the name in a shared sticky directory",
          );
        }
        return entry;
      }
      yield* checkStickyOwner(s, entry);
      if (replacing) {
        yield* refuseMountPoint(s, entry, hops === 0 ? directory : undefined);
      }
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
    if (hops === 0) {
      checkNamedLink(s);
      chain = yield* refuseSpecialEnd(s);
    }
    if (isProcLink(s.final)) procLink = s.final;
    const link = yield* act(
      s,
      "readlink",
      s.final,
      request("readLink", s.final),
    );
    s.final = followLink(s.final, link);
    if (namesDirectory(s.final)) {
      if (chain?.loop) yield* refuseUnfollowedBefore(s, chain.loop);
      yield* refuseDirectoryPath(s, s.final, creating);
    }
  }
}
