/**
 * A descriptor of a file that Deno has open, for the calls Deno has only by
 * path: `Deno.chmod` and `Deno.chown` follow links, and `FsFile` hides its
 * descriptor. Between the temporary file's creation and its chmod, another
 * user who may rename entries in its directory (a directory of theirs that
 * root writes to, a group-writable one) could put a link at its name, and
 * the writer's chmod or chown (as root: of any file) would land on the
 * link's target. So the name is opened again, without following a final
 * link, and the call is made on that descriptor only if it is the same file
 * (device and inode) as the one the writer has open.
 *
 * `node:fs` on Deno opens real descriptors and has `fchmod` and `fchown`.
 * Without `--allow-all`, Deno resolves a link itself before it opens (to
 * check the permission), so `O_NOFOLLOW` does not refuse it there: the
 * comparison does. So that a link put there is not even opened (a device's
 * open can do something), the name is first looked at (`lstat`, not
 * following a link) and must be the open file already; only a swap in the
 * microseconds between that look and the open reaches the open, which is
 * for reading, non-blocking, and never makes a terminal the controlling
 * one, and is then refused by the comparison. It needs the read permission
 * every write needs anyway (of the directory's real path, where a link
 * leads to it: Deno checks the path it resolved). The calls are made on the
 * calling thread (a few microseconds each, locally).
 *
 * @module
 */
import fs from "node:fs";

const { O_RDONLY, O_NOFOLLOW = 0, O_NONBLOCK = 0, O_NOCTTY = 0 } = fs.constants;
const FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

/** The error when `path` no longer names the open file. */
function replaced(path: string): Error {
  return Object.assign(
    new Error(
      `ENOENT: '${path}' is no longer the file this process has open (another user who may write to its directory put something else at its name)`,
    ),
    { code: "ENOENT", syscall: "open", path },
  );
}

/** Whether two `stat`s describe one file (device and inode). */
function isSame(
  a: { dev: number | null; ino: number | null },
  b: { dev: number | null; ino: number | null },
): boolean {
  return a.ino !== null && a.dev === b.dev && a.ino === b.ino;
}

/**
 * Calls `act` with a descriptor of `file`, opened at `path`; throws
 * `ENOENT` (and calls nothing) if `path` names another file now.
 */
export function onOpenFile<T>(
  file: Deno.FsFile,
  path: string,
  act: (fd: number) => T,
): T {
  const own = file.statSync();
  const named = Deno.lstatSync(path);
  if (!isSame(named, own)) throw replaced(path);
  const fd = fs.openSync(path, FLAGS);
  try {
    if (!isSame(fs.fstatSync(fd), own)) throw replaced(path);
    return act(fd);
  } finally {
    fs.closeSync(fd);
  }
}
