/**
 * Who this process is, in terms that survive pid reuse and reboots, for lock
 * files (see `src/_lock_record.ts`). Linux facts come from /proc; elsewhere,
 * or without permission to read them, the fields are empty and lock
 * takeover falls back to the process check and the lease. `node:fs` and
 * `node:os` work the same on Deno, Bun and Node here.
 */
import fs from "node:fs";
import os from "node:os";
import process from "node:process";

/** What identifies a process across hosts, boots and pid reuse. */
export interface ProcessIdentity {
  /** The host name, or `""` if unknown. */
  readonly host: string;
  /** The Linux boot id (changes at every boot), or `""` if unknown. */
  readonly boot: string;
  /** The process id. */
  readonly pid: number;
  /** The process start time (/proc/PID/stat field 22, ticks since boot), or `""`. */
  readonly start: string;
  /** The pid namespace (`pid:[4026531836]`), or `""`: pids compare only within one. */
  readonly pidns: string;
}

function attempt(read: () => string): string {
  try {
    return read().trim();
  } catch {
    return "";
  }
}

/** What /proc says about another process. */
export interface ProcessStart {
  /** Field 22 of /proc/PID/stat: the start time, in clock ticks since boot. */
  readonly start: string;
  /** The process has ended and only waits for its parent to reap it (state Z or X). */
  readonly zombie: boolean;
}

/** The start time and state of process `pid`; `null` if there is no such process or no /proc. */
export function processStart(pid: number): ProcessStart | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[3 - 3];
  return {
    start: fields[22 - 3] ?? "",
    zombie: state === "Z" || state === "X" || state === "x",
  };
}

let cached: ProcessIdentity | undefined;

/** This process's identity, read once. */
export function processIdentity(): ProcessIdentity {
  return cached ??= {
    host: attempt(() => os.hostname()),
    boot: attempt(() =>
      fs.readFileSync("/proc/sys/kernel/random/boot_id", "latin1")
    ),
    pid: process.pid,
    start: processStart(process.pid)?.start ?? "",
    pidns: attempt(() => fs.readlinkSync("/proc/self/ns/pid")),
  };
}

/** Whether a process with this id is alive on this machine (EPERM: alive, not ours). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: unknown })?.code === "EPERM";
  }
}
