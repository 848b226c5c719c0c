/**
 * The closet: a directory that only the writer may enter (`0o700`), made
 * beside the target for the last steps of a file that gets set-ID bits and
 * another owner than the writer (root's replacement of another user's
 * set-group-ID program, or a compat `chown` with such a `mode`).
 *
 * Given away, the temporary file is its new owner's: until the chmod that
 * follows, that owner could open it for writing, keep the descriptor, and
 * write through a shared mapping (which keeps the bits) once they are set,
 * making a program of a group they are not in run their code. Moved into
 * the closet before the chown, the file has no name that its new owner can
 * reach until it is renamed onto the target, by then with its bits set; and
 * a later chmod by that owner clears the set-group-ID bit (the kernel's
 * rule for a group the owner is not in). The closet is used through the
 * directory held open (`intoCloset`), never by its name, where the runtime
 * can name files so; elsewhere (Deno without `--allow-all`) by path, which
 * an owner who may write the target's directory could swap.
 *
 * The closet is named like a temporary file of the writer's but for its
 * ending (`.atomic-closet`), so that a closet left by a crash is judged as
 * one (`removeStaleTemps`), and removed with the file in it at exit. Its removal is `leaveCloset`
 * (`_replacement.ts`), which every removal of the temporary file makes too.
 */
import { basename, dirname } from "node:path";
import { type EntryInfo, NO_OWNER } from "./runtime/types.ts";
import { request, type Steps } from "./_steps.ts";
import { CLOSET_SUFFIX, tempName } from "./_temp_name.ts";
import {
  act,
  inDirectory,
  named,
  problem,
  type Replacement,
} from "./_replacement.ts";

/** The closet's bits: the writer's alone, whatever the umask. */
const CLOSET_MODE = 0o700;

/**
 * Whether the temporary file will be given to another owner than the
 * writer, by a writer that can (root, or one that cannot tell who it is):
 * the owner asked for (compat `owner`), or by default the existing file's.
 */
export function givesAway(s: Replacement, entry: EntryInfo | null): boolean {
  const ids = s.host.ids;
  if (ids !== null && ids.uid !== 0) return false; // cannot give files away
  const owner = s.options.owner;
  const uid = typeof owner === "object"
    ? owner.uid
    : owner === "target"
    ? entry?.uid
    : undefined;
  if (uid === undefined || uid < 0 || uid === NO_OWNER) return false;
  return ids === null || uid !== ids.uid;
}

/**
 * Moves the temporary file into a fresh closet beside it, where it stays
 * until it is renamed onto the target (or removed): see the module doc.
 * The closet is held open, and must be the writer's own and closed to
 * everyone else: whoever may write the target's directory could put a
 * directory of theirs in its place, by its name, but never in place of the
 * one held. Then the file must have no other name than the one in it: a
 * hard link made to it before (where `fs.protected_hardlinks` is 0) would
 * let its new owner open it.
 */
export function* intoCloset(s: Replacement): Steps<void> {
  const temp = s.temp as string;
  const closet = inDirectory(
    dirname(s.final),
    tempName(basename(s.final), s.host.owner, CLOSET_SUFFIX),
  );
  yield* act(
    s,
    "create directory",
    closet,
    request("makeDirectory", named(s, closet), CLOSET_MODE),
  );
  s.closet = { path: closet, held: null, id: null };
  const held = yield* act(
    s,
    "open directory",
    closet,
    request("openDirectory", named(s, closet)),
  );
  if (held !== null) {
    s.closet.held = held;
    const found = yield* act(s, "stat", closet, request("stat", held.path));
    if (!isWritersOwn(s, found)) {
      throw problem(
        s,
        "EAGAIN",
        "create directory",
        closet,
        "another directory was put in place of the one made for the file's last steps (by someone who may write the directory)",
      );
    }
    s.closet.id = (found as EntryInfo).id;
  }
  const inside = inDirectory(closet, basename(temp));
  // Its own name in a failure: this rename is not the final one (a Landlock
  // sandbox without LANDLOCK_ACCESS_FS_REFER refuses it with EXDEV).
  yield* act(
    s,
    "move into closet",
    temp,
    request("rename", named(s, temp), named(s, inside)),
  );
  s.inFlight.add(inside);
  s.inFlight.delete(temp);
  s.temp = inside;
  const moved = yield* act(
    s,
    "lstat",
    inside,
    request("lstat", named(s, inside)),
  );
  if (moved === null || moved.links > 1) {
    throw problem(
      s,
      "EPERM",
      "chown",
      inside,
      "the new file has another name than its own (a hard link someone made to it), through which its new owner could open it",
    );
  }
}

/** Whether `found`, the closet as held, is a directory that only the writer may enter. */
function isWritersOwn(s: Replacement, found: EntryInfo | null): boolean {
  const uid = s.host.ids?.uid;
  return found !== null && found.kind === "directory" &&
    (found.mode & 0o077) === 0 && (uid === undefined || found.uid === uid);
}
