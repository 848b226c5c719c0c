/**
 * Real file systems for the suites that need one: loop-mounted images made
 * with `mkfs`, and the `xfs_io` "godown" shutdown that stops a file system
 * without flushing its log (a power cut, as xfstests does it).
 *
 * Every image, loop device and mount point made here is registered, and
 * {@linkcode cleanUpMounts} (run on exit, Ctrl-C and SIGTERM once
 * {@linkcode cleanUpOnExit} is called) unmounts, detaches and removes them
 * all. Names start with the caller's prefix (`powercut-`, `matrix-`, …) so
 * runs of different suites never touch each other's mounts.
 *
 * @example Usage (as root)
 * ```ts ignore
 * cleanUpOnExit();
 * const fs = mountLoop("powercut-ext4", { type: "ext4", options: "data=writeback" });
 * writeSomething(fs.dir);
 * fs.shutdown(); // nothing more reaches the device
 * fs.remount(); // the journal is replayed
 * fs.remove();
 * ```
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";

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

const MKFS: Record<LoopFsType, string[]> = {
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

/** Runs a command; throws with its stderr when it fails. */
export function run(argv: string[]): string {
  const result = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
  if (result.status !== 0) {
    const why = (result.stderr || result.error?.message || "").trim();
    throw new Error(`${argv.join(" ")} failed: ${why || result.status}`);
  }
  return result.stdout.trim();
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? "").split(":").concat("/usr/sbin", "/sbin")
    .some((dir) => {
      try {
        fs.accessSync(path.join(dir, command), fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/**
 * Unmounts `dir`, retrying for up to 5 s while it is busy (a killed
 * process's files close a moment after it dies).
 */
export function umount(dir: string): void {
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
  const tools = ["losetup", "mount", "umount", ...types.map((t) => MKFS[t][0])];
  if (godown) tools.push("xfs_io");
  const missing = tools.filter((tool) => !onPath(tool));
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
    run(["mount", "-t", spec.type, ...options, device, dir]);
    mounted = true;
  };
  const unmount = (): void => {
    if (!mounted) return;
    umount(dir);
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
    shutdown: () => void run(["xfs_io", "-x", "-c", "shutdown", dir]),
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
    run([...MKFS[spec.type], image]);
    device = run(["losetup", "-f", "--show", image]);
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
