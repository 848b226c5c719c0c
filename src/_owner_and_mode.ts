/**
 * The new file's owner and permission bits: the existing file's, or the
 * `mode` option, set explicitly; the bit rules have names.
 */
import type { EntryInfo } from "./runtime/types.ts";
import { request, settle, type Steps } from "./_steps.ts";
import { act, type Replacement } from "./_replacement.ts";

/**
 * `mode` without set-user-ID, set-group-ID and sticky: what a fresh file may
 * carry before its owner is set (a chown would clear them anyway).
 */
export function withoutSpecialBits(mode: number): number {
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
export function wantedMode(
  s: Replacement,
  entry: EntryInfo | null,
): number | null {
  return s.options.mode ?? entry?.mode ?? null;
}

/**
 * Gives the temporary file the existing file's owner (where allowed) and the
 * permission bits `wanted`, set explicitly: whatever the umask is now, and
 * whatever a directory's default ACL gave the fresh file.
 */
export function* matchOwnerAndMode(
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
