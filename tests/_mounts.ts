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
import os from "node:os";
import path from "node:path";
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
 * `name` in the mount table, with the mount options `options` too
 * (`nosymfollow`, …).
 */
export function mountTmpfs(
  name: string,
  dir: string,
  size: string,
  options: readonly string[] = [],
): Mount {
  return mount("tmpfs", dir, [
    "-t",
    "tmpfs",
    "-o",
    [`size=${size}`, "mode=0755", ...options].join(","),
    name,
  ]);
}

/**
 * Python that mounts `argv[1]` idmapped at `argv[3]` (the new mount API, as
 * container runtimes do: `open_tree`, `mount_setattr` with
 * `MOUNT_ATTR_IDMAP`, `move_mount`; the same syscall numbers on every
 * architecture), with the mapping of a user namespace that maps its ids
 * `argv[2]`… onto 0…65535: an on-disk owner `argv[2] + n` shows as `n`, and
 * one below `argv[2]` as the overflow id 65534.
 */
const IDMAP_MOUNT_PY = `
import ctypes, os, subprocess, sys, time
source, first, target = sys.argv[1], int(sys.argv[2]), sys.argv[3]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def fail(what):
    sys.exit(what + ": " + os.strerror(ctypes.get_errno()))
child = subprocess.Popen(["unshare", "--user", "sleep", "60"])
try:
    mine = os.readlink("/proc/self/ns/user")
    while os.readlink(f"/proc/{child.pid}/ns/user") == mine:
        time.sleep(0.005)
    for name, text in [("uid_map", f"{first} 0 65536"), ("setgroups", "deny"), ("gid_map", f"{first} 0 65536")]:
        with open(f"/proc/{child.pid}/{name}", "w") as f:
            f.write(text)
    userns = os.open(f"/proc/{child.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
finally:
    child.kill()
    child.wait()
tree = libc.syscall(428, -100, source.encode(), 1 | 0o2000000)
if tree < 0:
    fail("open_tree")
class MountAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("set", "clr", "propagation", "userns")]
attr = MountAttr(0x00100000, 0, 0, userns)
if libc.syscall(442, tree, b"", 0x1000, ctypes.byref(attr), ctypes.sizeof(attr)) < 0:
    fail("mount_setattr")
if libc.syscall(429, tree, b"", -100, target.encode(), 0x4) < 0:
    fail("move_mount")
`;

/**
 * Mounts the directory `source` at `dir` idmapped as a container runtime
 * does (see `IDMAP_MOUNT_PY`): on-disk owners `first + n` show as `n`,
 * those below `first` as 65534. Needs root, python3 and util-linux's
 * `unshare`.
 */
export function mountIdmapped(
  source: string,
  dir: string,
  first: number,
): Mount {
  for (const command of ["python3", "unshare"]) {
    if (!hasCommand(command)) throw new Skip(`${command} is not installed`);
  }
  return mount(
    "idmapped",
    dir,
    ["-c", IDMAP_MOUNT_PY, source, String(first)],
    () => {},
    "python3",
  );
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
 * it to a free loop device and mounts it at `dir`, with the mount options
 * `options` if any. `close()` undoes all three.
 */
export function mountImage(
  type: string,
  image: string,
  dir: string,
  mib: number = IMAGE_MIB[type] ?? 64,
  options: string[] = [],
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
  return mount(
    type,
    dir,
    [...command.slice(1), ...options, device],
    undo,
    command[0],
  );
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

// ---------------------------------------------------------------- power cuts

/*
 * Loop file systems that can be cut (the power-cut suite): made with `mkfs`
 * under the system temp dir, mounted with options (`data=writeback`), shut
 * down with the `xfs_io` "godown" that stops a file system without flushing
 * its log (a power cut, as xfstests does it), and mounted again to replay
 * the journal. Every one made is registered, and {@linkcode cleanUpMounts}
 * (run on exit, Ctrl-C and SIGTERM once {@linkcode cleanUpOnExit} is
 * called) unmounts, detaches and removes them all.
 */

/** A file system type this module can make on a loop device. */
export type LoopFsType = "ext4" | "xfs" | "btrfs";

/** How to make and mount a loop file system. */
export interface LoopSpec {
  /** The file system to make. */
  type: LoopFsType;
  /** Mount options (`-o`), for example `data=writeback`. @default {""} */
  options?: string;
  /** The image's size in MiB (sparse). @default {xfs: 300, btrfs: 128, ext4: 64} */
  sizeMiB?: number;
}

/** A loop-mounted file system, with the operations a crash test needs. */
export interface LoopMount {
  /** The mount point. */
  readonly dir: string;
  /** The loop device, e.g. `/dev/loop3`. */
  readonly device: string;
  /** The image file behind the device. */
  readonly image: string;
  readonly spec: LoopSpec;
  /** Stops the file system at once without flushing its log: a power cut. */
  shutdown(): void;
  /** Unmounts (after a shutdown too) and mounts again, replaying the journal. */
  remount(): void;
  /** Unmounts, detaches the device and deletes the image. */
  remove(): void;
}

const LOOP_MKFS: Record<LoopFsType, string[]> = {
  ext4: ["mkfs.ext4", "-q", "-F"],
  xfs: ["mkfs.xfs", "-q", "-f"],
  btrfs: ["mkfs.btrfs", "-q", "-f"],
};
const DEFAULT_MIB: Record<LoopFsType, number> = {
  ext4: 64,
  xfs: 300, // mkfs.xfs refuses anything smaller
  btrfs: 128,
};

/** Everything made and not yet removed, newest last. */
const live = new Set<LoopMount>();

/**
 * Unmounts `dir`, retrying for up to 5 s while it is busy (a killed
 * process's files close a moment after it dies).
 */
export function umountWhenIdle(dir: string): void {
  for (let attempt = 1;; attempt++) {
    const result = spawnSync("umount", [dir], { encoding: "utf8" });
    if (result.status === 0) return;
    if (attempt === 50 || !/busy/i.test(result.stderr)) {
      throw new Error(`umount ${dir} failed: ${result.stderr.trim()}`);
    }
    sleepSync(100);
  }
}

/** Blocks for `ms` milliseconds (unmounting is synchronous, so it can run on exit). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** How long an unmounted file system may stay alive before we give up. */
const GONE_TIMEOUT_MS = 60_000;

/**
 * Waits until the kernel has let go of the file system on `device`. An
 * unmount can return while the super block still lives (a killed writer's
 * last file references are dropped a moment later); mounting the device
 * then would reuse it, still shut down, and every access fails with EIO.
 * ext4 and xfs list each live super block under `/sys/fs/TYPE/DEVICE`.
 */
function waitUntilGone(type: LoopFsType, device: string): void {
  if (type === "btrfs") return; // listed by UUID; not cut by this suite
  const entry = `/sys/fs/${type}/${path.basename(device)}`;
  const deadline = Date.now() + GONE_TIMEOUT_MS;
  while (fs.existsSync(entry)) {
    if (Date.now() > deadline) {
      throw new Error(
        `${device} is unmounted, but its ${type} file system stays alive after ${GONE_TIMEOUT_MS} ms`,
      );
    }
    sleepSync(20);
  }
}

/**
 * Why loop file systems of `types` cannot be made here (not root, no loop
 * devices, a missing tool), or `null` if they can.
 */
export function loopProblem(
  types: LoopFsType[],
  godown = false,
): string | null {
  if (process.platform !== "linux") return "loop devices need Linux";
  if (process.getuid?.() !== 0) return "loop mounts need root";
  if (!fs.existsSync("/dev/loop-control")) {
    return "no loop devices (/dev/loop-control is missing)";
  }
  const tools = [
    "losetup",
    "mount",
    "umount",
    ...types.map((t) => LOOP_MKFS[t][0]),
  ];
  if (godown) tools.push("xfs_io");
  const missing = tools.filter((tool) => !hasCommand(tool));
  if (missing.length > 0) return `missing ${missing.join(", ")}`;
  const known = fs.readFileSync("/proc/filesystems", "utf8");
  const absent = types.filter((t) => !new RegExp(`\\s${t}$`, "m").test(known));
  if (absent.length > 0 && !canLoadModules(absent)) {
    return `the kernel has no ${absent.join(", ")} driver`;
  }
  return null;
}

function canLoadModules(types: LoopFsType[]): boolean {
  return types.every((t) =>
    spawnSync("modprobe", [t], { stdio: "ignore" }).status === 0
  );
}

/**
 * Makes a sparse image of `spec.type` under the system temp dir, attaches it
 * to a fresh loop device (`losetup -f`) and mounts it. `name` starts with
 * the suite's prefix and names the image, the mount point and the device's
 * backing file, so a leftover can be traced to its suite.
 */
export function mountLoop(name: string, spec: LoopSpec): LoopMount {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));
  const image = path.join(base, `${name}.img`);
  const dir = path.join(base, "mnt");
  fs.mkdirSync(dir);
  fs.closeSync(fs.openSync(image, "w"));
  fs.truncateSync(image, (spec.sizeMiB ?? DEFAULT_MIB[spec.type]) * 2 ** 20);
  let device = "";
  let mounted = false;
  const mount = (): void => {
    const options = spec.options ? ["-o", spec.options] : [];
    sh("mount", "-t", spec.type, ...options, device, dir);
    mounted = true;
  };
  const unmount = (): void => {
    if (!mounted) return;
    umountWhenIdle(dir);
    mounted = false;
    waitUntilGone(spec.type, device);
  };
  const handle: LoopMount = {
    dir,
    image,
    spec,
    get device() {
      return device;
    },
    shutdown: () => void sh("xfs_io", "-x", "-c", "shutdown", dir),
    remount: () => {
      unmount();
      mount();
    },
    remove: () => {
      live.delete(handle);
      try {
        if (mounted) {
          const result = spawnSync("umount", [dir], { encoding: "utf8" });
          if (result.status !== 0) spawnSync("umount", ["-l", dir]);
          mounted = false;
        }
      } finally {
        if (device) spawnSync("losetup", ["-d", device]);
        fs.rmSync(base, { recursive: true, force: true });
      }
    },
  };
  live.add(handle);
  try {
    const [mkfs, ...flags] = LOOP_MKFS[spec.type];
    sh(mkfs, ...flags, image);
    device = sh("losetup", "-f", "--show", image);
    mount();
  } catch (error) {
    handle.remove();
    throw error;
  }
  return handle;
}

/** Removes every loop mount still made by this process. */
export function cleanUpMounts(): void {
  for (const mount of [...live].reverse()) {
    try {
      mount.remove();
    } catch (error) {
      console.error(`cannot clean up ${mount.dir}: ${error}`);
    }
  }
}

let hooked = false;

/**
 * Cleans up every loop mount when the process exits, and on SIGINT, SIGTERM
 * and SIGHUP (then exits with 128 + the signal's number).
 */
export function cleanUpOnExit(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", cleanUpMounts);
  for (
    const [signal, number] of [["SIGINT", 2], ["SIGTERM", 15], [
      "SIGHUP",
      1,
    ]] as const
  ) {
    process.on(signal, () => {
      cleanUpMounts();
      process.exit(128 + number);
    });
  }
}
