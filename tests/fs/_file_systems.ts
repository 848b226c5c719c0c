/**
 * The file systems of the matrix, and what each is expected to do with each
 * behaviour: work (the default), fail with a given code, or not support the
 * case's set-up at all (no symbolic links on exFAT). README.md's table is
 * this file in words.
 */
import fs from "node:fs";
import path from "node:path";
import {
  bindFile,
  type Mount,
  mount,
  mountImage,
  mountTmpfs,
  remountReadOnly,
} from "../_mounts.ts";
import type { Suite } from "../_suite.ts";
import { mountSshfs } from "./_sshfs.ts";

/** A behaviour that must fail, with the code and why. */
export interface Failure {
  fails: string;
  /** The operation the error must name (EROFS must come before any work). */
  operation?: string;
  because: string;
}

/** A behaviour whose set-up the file system cannot make. */
export interface Unsupported {
  unsupported: string;
}

/** One file system of the matrix. */
export interface FileSystem {
  id: string;
  /** What it is, for the README's table. */
  what: string;
  /** Mounts it, its mount point under `dir`; the cases are prepared in the mount's `dir`. */
  mount(suite: Suite, dir: string): Mount | Promise<Mount>;
  /**
   * After the cases are prepared: makes the file system what is tested
   * (read-only, bind mounts on the targets, the overlay over prepared
   * files) and returns where the writers write (default: the mount's dir).
   */
  ready?(suite: Suite, prepared: Mount): string;
  /** The behaviours run here (default: {@linkcode CORE}). */
  behaviours?: string[];
  /**
   * Whether it has hard links: the lock then links its holder's file to
   * the lock's name, and otherwise creates the lock file with O_EXCL.
   *
   * @default {true}
   */
  links?: boolean;
  /** Each behaviour that does not simply work. */
  expect?: Record<string, Failure | Unsupported>;
  /**
   * Behaviours that fail here because of a bug of the library, not yet
   * fixed, and what it is. They still fail (a known bug is never a pass);
   * the mark only says so in the `FAIL` line, and a marked case that works
   * fails too, until its mark is removed.
   */
  bugs?: Record<string, string>;
}

/** The writes every file system runs unless it says otherwise. */
const WRITES = [
  "replace",
  "replace-sync",
  "replace-handle",
  "create",
  "case-order",
  "exclusive-taken",
  "exclusive-race",
  "symlink",
  "mode",
  "acl",
  "abort",
  "stream",
];

/** The updates and the lock, likewise. */
const UPDATES = [
  "update",
  "update-sync",
  "update-create",
  "update-create-sync",
  "update-contention",
  "lock-release",
  "lock-heartbeat",
  "lock-takeover",
  "lock-sweep",
];

/** The behaviours every file system runs unless it says otherwise (all but the full disk). */
export const CORE: string[] = [...WRITES, ...UPDATES];

/** A full disk's cases, where a file system can be filled. */
const FULL_DISK = ["enospc", "update-enospc"];

/** A loop-mounted image of `type` in the suite's directory. */
function image(type: string, name: string) {
  return (suite: Suite, dir: string): Mount =>
    mountImage(type, path.join(suite.root, `${name}.img`), dir);
}

const FULL: Failure = {
  fails: "ENOSPC",
  because:
    "more than the free space; the temporary file is removed (and the lock released)",
};

const EROFS: Failure = {
  fails: "EROFS",
  operation: "create temporary file",
  because: "read-only: the first step fails, nothing is written",
};

const EROFS_LOCK: Failure = {
  fails: "EROFS",
  operation: "create lock",
  because: "read-only: the lock cannot be made, nothing is written",
};

/** The behaviours that replace the target, or must not get that far. */
const REPLACING = [
  "replace",
  "replace-sync",
  "replace-handle",
  "mode",
  "stream",
  "update",
  "update-sync",
  "lock-takeover",
];

/**
 * Each target a mount point: the bound file comes from `sources` (`other`:
 * another file system, refused before any temporary file exists; `same`:
 * the same one, which only the rename finds out).
 */
function bound(
  id: string,
  what: string,
  sources: "other" | "same",
): FileSystem {
  const refused: Failure = sources === "other"
    ? {
      fails: "EBUSY",
      operation: "replace",
      because:
        "the target is a mount point from another device: refused before any temporary file",
    }
    : {
      fails: "EBUSY",
      operation: "rename",
      because: "the target is a mount point: rename(2) cannot replace it",
    };
  // Refused before anything is written, so even a write that would be
  // aborted midway; `overwrite: false` fails with EEXIST on any file first.
  const early = sources === "other" ? ["abort"] : [];
  return {
    id,
    what,
    mount: (_suite, dir) => mountTmpfs(`matrix-${id}`, dir, "16m"),
    ready: (suite, prepared) => {
      const dir = sources === "other"
        ? suite.mkdir(`matrix-${id}-sources`)
        : path.join(prepared.dir, "sources");
      fs.mkdirSync(dir, { recursive: true });
      for (const target of targetsIn(prepared.dir)) {
        const source = path.join(
          dir,
          path.relative(prepared.dir, target).replaceAll("/", "-"),
        );
        fs.writeFileSync(source, "bound content\n");
        suite.adopt(bindFile(source, target));
      }
      return prepared.dir;
    },
    behaviours: [
      ...REPLACING,
      "exclusive-taken",
      "abort",
      "lock-release",
      "lock-heartbeat",
      "lock-sweep",
    ],
    expect: Object.fromEntries(
      [...REPLACING, ...early].map((b) => [b, refused]),
    ),
  };
}

/** Each file under `dir` named `target`, at any depth. */
function targetsIn(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((name) => path.basename(name) === "target")
    .map((name) => path.join(dir, name));
}

/** Every file system, in the order of the README's table. */
export const FILE_SYSTEMS: FileSystem[] = [
  {
    id: "ext4",
    what: "ext4, loop-mounted 16 MiB image (mkfs.ext4 -m 0)",
    mount: image("ext4", "matrix-ext4"),
    behaviours: [...CORE, ...FULL_DISK],
    expect: { enospc: FULL, "update-enospc": FULL },
  },
  {
    id: "xfs",
    what: "xfs, loop-mounted 300 MiB sparse image",
    mount: image("xfs", "matrix-xfs"),
  },
  {
    id: "btrfs",
    what: "btrfs, loop-mounted 128 MiB sparse image",
    mount: image("btrfs", "matrix-btrfs"),
  },
  {
    id: "tmpfs",
    what: "tmpfs of 16 MiB",
    mount: (_suite, dir) => mountTmpfs("matrix-tmpfs", dir, "16m"),
    behaviours: [...CORE, ...FULL_DISK],
    expect: { enospc: FULL, "update-enospc": FULL },
  },
  {
    id: "overlay",
    what:
      "overlayfs (on a tmpfs) whose targets exist only in the lower layer: the write copies up",
    mount: (suite, dir) => {
      const base = suite.adopt(mountTmpfs("matrix-overlay-base", dir, "32m"));
      for (const layer of ["lower", "upper", "work", "merged"]) {
        fs.mkdirSync(path.join(dir, layer));
      }
      return { dir: path.join(base.dir, "lower"), type: "tmpfs", close() {} };
    },
    ready: (suite, prepared) => {
      const base = path.dirname(prepared.dir);
      const layers = ["lower", "upper", "work"].map((l) => path.join(base, l));
      return suite.adopt(
        mount("overlay", path.join(base, "merged"), [
          "-t",
          "overlay",
          "matrix-overlay",
          "-o",
          `lowerdir=${layers[0]},upperdir=${layers[1]},workdir=${layers[2]}`,
        ]),
      ).dir;
    },
  },
  {
    id: "read-only",
    what: "ext4 image remounted read-only after the files were made",
    mount: image("ext4", "matrix-read-only"),
    ready: (_suite, prepared) => {
      remountReadOnly(prepared);
      return prepared.dir;
    },
    expect: Object.fromEntries([
      ...WRITES.map((id) => [id, EROFS]),
      ...UPDATES.map((id) => [id, EROFS_LOCK]),
    ]),
  },
  {
    id: "exfat",
    what:
      "exFAT through FUSE (exfat-fuse; this kernel has no FAT driver): no links, no owners, chmod ignored",
    mount: image("exfat", "matrix-exfat"),
    links: false,
    expect: {
      "exclusive-race": {
        fails: "EPERM",
        because:
          "overwrite: false publishes with link(2), and exFAT has no hard links",
      },
      symlink: { unsupported: "exFAT has no symbolic links" },
      acl: { unsupported: "exFAT has no ACLs" },
    },
  },
  {
    id: "sshfs",
    what: "sshfs (FUSE, SFTP) to a throwaway sshd on 127.0.0.1",
    mount: (suite, dir) =>
      mountSshfs(
        "matrix-sshfs",
        path.join(suite.root, "matrix-sshd"),
        suite.mkdir("matrix-sshfs-export"),
        dir,
      ),
    expect: { acl: { unsupported: "SFTP carries no ACLs" } },
  },
  bound(
    "bind",
    "a file of another file system (/tmp) bind-mounted onto each target (on a tmpfs), as Docker mounts single files",
    "other",
  ),
  bound(
    "bind-same",
    "a file of the same tmpfs bind-mounted onto each target",
    "same",
  ),
];
