/**
 * Real file systems for the suites that need them (torture, file-system
 * matrix): a tmpfs, or a loop-mounted image made with `mkfs`. Each mount is
 * a {@linkcode Mount} whose `close()` unmounts it, detaches its loop device
 * and deletes its image; the caller calls it in `finally`. Names start with
 * the caller's prefix so that a leftover is easy to trace (and `.ci/fs.sh`
 * sweeps `matrix-` ones on exit). When this machine cannot mount (not root,
 * no loop device, no `mkfs` for the type), the functions throw a
 * {@linkcode Skip} that says why.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import process from "node:process";
import { hasCommand, sh } from "./_commands.ts";
import { Skip } from "./_skip.ts";

/** A mounted file system. */
export interface Mount {
  /** Where it is mounted. */
  readonly dir: string;
  /** Its type as `mount -t` names it: "tmpfs", "ext4", "overlay", … */
  readonly type: string;
  /** Unmounts it (lazily if it is busy), detaches its loop device, deletes its image; once. */
  close(): void;
}

/** Why this process cannot mount anything, or `null`. */
export function mountProblem(): string | null {
  return process.getuid?.() === 0 ? null : "mounting needs root";
}

/**
 * `mount …args dir` (or, with `command`, `command…args dir`) as a
 * {@linkcode Mount}, or a {@linkcode Skip} saying why not; `undo` runs after
 * the unmount, or at once if the mount fails. A missing `dir` is made.
 */
export function mount(
  type: string,
  dir: string,
  args: string[],
  undo: () => void = () => {},
  command = "mount",
): Mount {
  const problem = mountProblem();
  if (problem) {
    undo();
    throw new Skip(problem);
  }
  if (!fs.existsSync(dir)) fs.mkdirSync(dir, { recursive: true });
  try {
    sh(command, ...args, dir);
  } catch (error) {
    undo();
    throw new Skip(`cannot mount ${type} (${(error as Error).message})`);
  }
  let closed = false;
  const close = () => {
    if (!closed) unmount(dir, undo);
    closed = true;
  };
  return { dir, type, close };
}

/** Unmounts `dir` (lazily when busy), then runs `undo`; reports, never throws. */
export function unmount(dir: string, undo: () => void = () => {}): void {
  const result = spawnSync("umount", [dir], { encoding: "utf8" });
  if (result.status !== 0) {
    const lazy = spawnSync("umount", ["-l", dir], { encoding: "utf8" });
    if (lazy.status !== 0) {
      console.error(`cannot unmount ${dir}: ${result.stderr.trim()}`);
    }
  }
  undo();
}

/** Remounts `mount` read-only: every later write fails with EROFS. */
export function remountReadOnly(mount: Mount): void {
  sh("mount", "-o", "remount,ro", mount.dir);
}

/** Bind-mounts the file `source` onto the existing file `target`. */
export function bindFile(source: string, target: string): Mount {
  return mount("bind", target, ["--bind", source]);
}

/**
 * A tmpfs of `size` (as `mount -o size=` takes it: "256k") at `dir`, named
 * `name` in the mount table.
 */
export function mountTmpfs(name: string, dir: string, size: string): Mount {
  return mount("tmpfs", dir, [
    "-t",
    "tmpfs",
    "-o",
    `size=${size},mode=0755`,
    name,
  ]);
}

/** The file systems {@linkcode mountImage} can make, and their smallest size. */
export const IMAGE_MIB: Record<string, number> = {
  ext4: 16,
  xfs: 300, // mkfs.xfs refuses less
  btrfs: 128,
  exfat: 16,
};

/** How each type is mounted: the kernel's driver, or FUSE where it has none. */
const MOUNT_COMMAND: Record<string, string[]> = {
  exfat: ["mount.exfat-fuse"], // this kernel has no exfat driver
};

/**
 * Makes a sparse image file `image` of `mib` MiB with `mkfs.<type>`, attaches
 * it to a free loop device and mounts it at `dir`. `close()` undoes all three.
 */
export function mountImage(
  type: string,
  image: string,
  dir: string,
  mib: number = IMAGE_MIB[type] ?? 64,
): Mount {
  const command = MOUNT_COMMAND[type] ?? ["mount", "-t", type];
  const problem = mountProblem() ?? imageProblem(type) ??
    (hasCommand(command[0]) ? null : `${command[0]} is not installed`) ??
    (type in MOUNT_COMMAND && !fs.existsSync("/dev/fuse")
      ? "no /dev/fuse (FUSE) here"
      : null);
  if (problem) throw new Skip(problem);
  fs.writeFileSync(image, "");
  fs.truncateSync(image, mib * 1024 * 1024);
  let device = "";
  const undo = () => {
    if (device) spawnSync("losetup", ["-d", device]);
    fs.rmSync(image, { force: true });
  };
  try {
    sh(`mkfs.${type}`, ...MKFS_ARGS[type] ?? [], image);
    device = sh("losetup", "--find", "--show", image);
  } catch (error) {
    undo();
    throw new Skip(`cannot make a ${type} image (${(error as Error).message})`);
  }
  return mount(type, dir, [...command.slice(1), device], undo, command[0]);
}

/** Quiet, and no blocks reserved for root (so that root sees ENOSPC too). */
const MKFS_ARGS: Record<string, string[]> = {
  ext4: ["-q", "-m", "0"],
  xfs: ["-q"],
  btrfs: ["-q"],
  exfat: [],
};

function imageProblem(type: string): string | null {
  if (!fs.existsSync("/dev/loop-control")) return "no loop devices here";
  return hasCommand(`mkfs.${type}`) ? null : `mkfs.${type} is not installed`;
}
