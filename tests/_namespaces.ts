/**
 * Commands that run a test child where Linux shows it another machine's
 * facts: another PID or time namespace, another boot id, a /proc that hides
 * other users' processes. Every mount is made inside a private mount
 * namespace of the child's own (`unshare --mount --propagation private`),
 * so it goes when the child ends and nothing outside it ever sees it.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import process from "node:process";

/** Why this machine cannot make namespaces (root on Linux with unshare), or `null` if it can. */
export function cannotUnshare(): string | null {
  if (process.platform !== "linux") return "namespaces are Linux's";
  if (process.getuid?.() !== 0) return "unshare needs root";
  if (!fs.existsSync("/usr/bin/unshare")) return "unshare is not installed";
  return null;
}

/** Why this machine cannot make time namespaces (Linux 5.6), or `null` if it can. */
export function cannotUnshareTime(): string | null {
  const reason = cannotUnshare();
  if (reason !== null) return reason;
  return fs.existsSync("/proc/self/ns/time")
    ? null
    : "this kernel has no time namespaces (Linux 5.6)";
}

/** `command` as PID 1 of a new PID namespace with its own /proc; killed when unshare is. */
export function inContainer(command: string[]): string[] {
  return [
    "unshare",
    "--pid",
    "--fork",
    "--mount-proc",
    "--kill-child=SIGKILL",
    ...command,
  ];
}

/**
 * `command` as PID 1 of a new PID namespace that keeps the /proc of this
 * one (no `--mount-proc`): there /proc/1 is not the command.
 */
export function inPidNamespaceWithoutProc(command: string[]): string[] {
  return ["unshare", "--pid", "--fork", "--kill-child=SIGKILL", ...command];
}

/**
 * `command` in the PID namespace of the process `pid` (a host pid), with a
 * /proc of that namespace mounted in a private mount namespace.
 */
export function joiningPidNamespace(pid: number, command: string[]): string[] {
  return [
    "nsenter",
    `--target=${pid}`,
    "--pid",
    "--",
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "--mount-proc",
    ...command,
  ];
}

/** `command` in a new time namespace whose boot-time clock runs a day ahead. */
export function inTimeNamespace(command: string[]): string[] {
  return [
    "unshare",
    "--time",
    "--boottime",
    "86400",
    "--fork",
    "--kill-child=SIGKILL",
    ...command,
  ];
}

/** `command` in a private mount namespace, after `script` (sh, as root) ran there. */
function afterMounting(script: string, args: string[], command: string[]) {
  return [
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "sh",
    "-c",
    `${script} && exec "$@"`,
    ...args,
    ...command,
  ];
}

/**
 * `command` where the boot id reads as the content of the file `bootId`
 * (bound over /proc/sys/kernel/random/boot_id): as on another machine, or
 * after a reboot, with the same host name.
 */
export function withBootId(bootId: string, command: string[]): string[] {
  return afterMounting(
    'mount --bind "$0" /proc/sys/kernel/random/boot_id',
    [bootId],
    command,
  );
}

/**
 * `command` where /proc/stat reads as the file `stat` (bound over it), read
 * anew at every read: rewriting the file in place moves `btime`, as a step
 * of the wall clock moves it.
 */
export function withProcStat(stat: string, command: string[]): string[] {
  return afterMounting('mount --bind "$0" /proc/stat', [stat], command);
}

/**
 * `command` with a fresh /proc mounted over the one in use, hiding other
 * users' processes (`hidepid=2`, as systemd's `ProtectProc=invisible`).
 */
export function withHidingProc(command: string[]): string[] {
  return afterMounting(
    "mount -t proc -o hidepid=2 proc /proc",
    ["sh"],
    command,
  );
}

/**
 * A `setup` for {@linkcode inUserNamespace}: a file no one may read covers
 * the command's `/proc/PID/uid_map`, so that it cannot tell its maps, as
 * Deno without `--allow-all`, Node's permission model or a missing /proc
 * leave a process.
 */
export const UNREADABLE_MAP =
  'f=$(mktemp) && chmod 000 "$f" && mount --bind "$f" /proc/$$/uid_map && rm "$f"';

/**
 * A `setup` for {@linkcode inUserNamespace}: `fs.protected_symlinks` reads
 * as 1 there (a file saying so covers it), whatever it is on the host.
 */
export const PROTECTED_SYMLINKS =
  'f=$(mktemp) && echo 1 > "$f" && mount --bind "$f" /proc/sys/fs/protected_symlinks && rm "$f"';

/** The host pids of the children of the process `pid` (unshare's child, for one). */
export function childrenOf(pid: number): number[] {
  return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim()
    .split(/\s+/).filter((s) => s !== "").map(Number);
}

/**
 * Runs `command` in a new user namespace whose uid and gid maps are `map`
 * (lines of "inside outside count"), written from outside by this process
 * (root), as a rootless container's runtime writes them; resolves to what
 * the command printed. `"root"` maps only root to itself
 * (`unshare --map-root-user`). Every owner the map leaves out shows, inside,
 * as the overflow id 65534. With `setup`, a shell script run as root in a
 * private mount namespace made first (such as {@linkcode UNREADABLE_MAP}):
 * the pid stays the command's through every `exec`, `$$` in the script.
 */
export async function inUserNamespace(
  map: string,
  command: string[],
  setup?: string,
): Promise<string> {
  const inside = ["--user", "sh", "-c", 'read go && exec "$@"', "sh"];
  const child = spawn(
    "unshare",
    setup === undefined
      ? [...inside, ...command]
      : afterMounting(setup, ["sh"], ["unshare", ...inside, ...command])
        .slice(1),
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (chunk) => out += chunk);
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  // unshare execs sh in the same process: its maps can be written once it
  // is in a user namespace of its own.
  const ours = fs.readlinkSync("/proc/self/ns/user");
  for (let tries = 0;; tries++) {
    try {
      if (fs.readlinkSync(`/proc/${child.pid}/ns/user`) !== ours) break;
    } catch { /* not started yet */ }
    if (tries > 500) throw new Error("unshare made no user namespace");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const lines = map === "root" ? "0 0 1\n" : map;
  fs.writeFileSync(`/proc/${child.pid}/uid_map`, lines);
  fs.writeFileSync(`/proc/${child.pid}/gid_map`, lines);
  child.stdin.end("go\n");
  const code = await exited;
  if (code !== 0) throw new Error(`${command.join(" ")} exited with ${code}`);
  return out.trim();
}
