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
  /** The behaviours run here (default: all but `enospc`). */
  behaviours?: string[];
  /** Each behaviour that does not simply work. */
  expect?: Record<string, Failure | Unsupported>;
}

/** The behaviours every file system runs unless it says otherwise. */
export const CORE = [
  "replace",
  "replace-sync",
  "replace-handle",
  "create",
  "exclusive-taken",
  "exclusive-race",
  "symlink",
  "mode",
  "abort",
  "stream",
];

/** A loop-mounted image of `type` in the suite's directory. */
function image(type: string, name: string) {
  return (suite: Suite, dir: string): Mount =>
    mountImage(type, path.join(suite.root, `${name}.img`), dir);
}

const FULL: Failure = {
  fails: "ENOSPC",
  because: "more than the free space; the temporary file is removed",
};

const EROFS: Failure = {
  fails: "EROFS",
  operation: "create temporary file",
  because: "read-only: the first step fails, nothing is written",
};

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
    behaviours: [...CORE, "enospc"],
    expect: { enospc: FULL },
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
    behaviours: [...CORE, "enospc"],
    expect: { enospc: FULL },
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
    expect: Object.fromEntries(CORE.map((id) => [id, EROFS])),
  },
  {
    id: "exfat",
    what:
      "exFAT through FUSE (exfat-fuse; this kernel has no FAT driver): no links, no owners, chmod ignored",
    mount: image("exfat", "matrix-exfat"),
    expect: {
      "exclusive-race": {
        fails: "EPERM",
        because:
          "overwrite: false publishes with link(2), and exFAT has no hard links",
      },
      symlink: { unsupported: "exFAT has no symbolic links" },
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
  },
  {
    id: "bind",
    what: "a file bind-mounted onto each target (on a tmpfs)",
    mount: (_suite, dir) => mountTmpfs("matrix-bind", dir, "16m"),
    ready: (suite, prepared) => {
      for (const target of targetsIn(prepared.dir)) {
        const source = path.join(
          suite.mkdir("matrix-bind-sources"),
          path.relative(prepared.dir, target).replaceAll("/", "-"),
        );
        fs.writeFileSync(source, "bound content\n");
        suite.adopt(bindFile(source, target));
      }
      return prepared.dir;
    },
    behaviours: [
      "replace",
      "replace-sync",
      "replace-handle",
      "exclusive-taken",
      "mode",
      "abort",
      "stream",
    ],
    // The sources are on another file system than the targets (Docker's
    // case), so the mount point is found before anything is written: even
    // a write that would be aborted midway fails first.
    expect: Object.fromEntries(
      ["replace", "replace-sync", "replace-handle", "mode", "abort", "stream"]
        .map((id) => [id, {
          fails: "EBUSY",
          operation: "replace",
          because:
            "the target is a mount point (found before writing): rename(2) cannot replace it",
        }]),
    ),
  },
];
