/**
 * Who made a temporary file, told apart precisely enough to judge later,
 * from another process, whether that writer can still touch the file.
 *
 * A process id alone is not enough: it means nothing in another PID
 * namespace (containers sharing a volume), it is reused (a container's new
 * PID 1 is always alive), and a worker thread that was terminated leaves a
 * live process id behind. So a writer is the JavaScript thread that made
 * the file, named by facts Linux shows in /proc:
 *
 * | fact              | source                                   |
 * | ----------------- | ---------------------------------------- |
 * | boot              | /proc/sys/kernel/random/boot_id          |
 * | PID namespace     | the inode in /proc/self/ns/pid           |
 * | time namespace    | the inode in /proc/self/ns/time          |
 * | process id        | getpid(), checked against /proc/self     |
 * | thread id         | /proc/thread-self -> `{pid}/task/{tid}`  |
 * | thread start time | field 22 of /proc/thread-self/stat       |
 *
 * Boot and namespaces go into the name as one short hash (`host`). The
 * time namespace belongs there because a start time is shown relative to
 * the reader's time namespace (its boot-time offset): the same thread shows
 * other start times in another one. A sweeper with the same `host` reads
 * /proc/{pid}/task/{tid}/stat: missing (where the /proc in use, the last
 * one mounted there, hides no one's processes), a zombie, or a different
 * start time means the writer is gone for certain. Anything else it cannot
 * read, a different `host` (another machine, boot or namespace: a hash of a
 * boot id cannot tell this machine's last boot from another machine), or no
 * /proc at all (macOS, Windows, Deno without `--allow-all`), is "unknown",
 * which is never taken as gone: age alone decides then (see
 * `removeStaleTemps`).
 *
 * A lock file's record names its holder process the same way, by the same
 * /proc facts in full (host name, boot id, pid, start time, PID and time
 * namespaces: {@linkcode ProcessIdentity}), read with `node:fs`, which Deno,
 * Bun and Node all provide; without /proc the fields are empty and a lock's
 * takeover falls back to the process check and the lease. Start times and
 * namespaces are read only where /proc shows this process's own PID
 * namespace (`/proc/self` is our pid): in a PID namespace made without a
 * /proc of its own, /proc/{pid} is another process.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import process from "node:process";
import { errorCode } from "../_error_code.ts";
import { hiddenIn, parseMountinfo } from "../_mount_point.ts";
import { isTransient } from "./_proc.ts";

/** A thread that makes temporary files, as {@linkcode writerOf} describes it. */
export interface Writer {
  /** Process id in the writer's PID namespace. */
  pid: number;
  /** The OS thread id of the JavaScript thread (a worker's differs from the main thread's). */
  thread: number;
  /** The thread's start time, in clock ticks since boot. */
  start: number;
  /** 12 hex digits: a hash of the boot id and the PID and time namespaces. */
  host: string;
}

/** What a sweeper knows about a writer: still running, certainly gone, or cannot tell. */
export type WriterState = "alive" | "gone" | "unknown";

/** How an adapter reads /proc; both throw (with a `code` where known) when they cannot. */
export interface ProcReader {
  readText(path: string): string;
  readLink(path: string): string;
}

/** The state letter and start time (field 22) from a /proc `stat` line. */
function parseStat(text: string): { state: string; start: number } | null {
  // The command name (field 2) may hold spaces and parentheses: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const start = Number(fields[19]);
  return Number.isSafeInteger(start) ? { state: fields[0], start } : null;
}

/** Whether a /proc state letter says the code no longer runs: a zombie (Z), or dead (X, x). */
function hasEnded(state: string): boolean {
  return state === "Z" || state === "X" || state === "x";
}

/** This boot's id (changes at every boot). */
function bootId(reader: ProcReader): string {
  return reader.readText("/proc/sys/kernel/random/boot_id").trim();
}

/** This process's PID namespace (`pid:[4026531836]`). */
function pidNamespace(reader: ProcReader): string {
  return reader.readLink("/proc/self/ns/pid");
}

/**
 * This process's time namespace (`time:[4026531834]`), or `""` on a kernel
 * without time namespaces (before Linux 5.6: one clock for all).
 */
function timeNamespace(reader: ProcReader): string {
  try {
    return reader.readLink("/proc/self/ns/time");
  } catch (error) {
    if (errorCode(error) === "ENOENT") return "";
    throw error;
  }
}

/** The machine's own time namespace (`PROC_TIME_INIT_INO`): its clocks are not shifted. */
const INITIAL_TIME_NAMESPACE = "time:[4026531834]";

/**
 * Whether /proc shows this process's own PID namespace (`/proc/self` is
 * `pid`): a /proc mounted for another one (`unshare --pid` without a /proc
 * of its own) shows other processes under the same numbers.
 */
function procIsOurs(reader: ProcReader, pid: number): boolean {
  try {
    return reader.readLink("/proc/self") === String(pid);
  } catch (error) {
    if (isTransient(error)) throw error;
    return false;
  }
}

/** The hidepid values that hide other users' processes altogether. */
const HIDING = /^hidepid=(2|invisible|4|ptraceable)$/;

/**
 * Whether /proc hides other users' processes from us (`hidepid=2`): then
 * "missing" proves nothing. The /proc in use is the one nothing is mounted
 * on at /proc (systemd's `ProtectProc=invisible` mounts one over another).
 */
function procHidesOthers(reader: ProcReader): boolean {
  const mounts = parseMountinfo(reader.readText("/proc/self/mountinfo"));
  const hidden = hiddenIn(mounts);
  const proc = mounts.find((mount) =>
    mount.point === "/proc" && !hidden(mount) &&
    !mounts.some((on) => on.parent === mount.id && on.point === "/proc")
  );
  return proc === undefined ||
    proc.options.some((option) => HIDING.test(option));
}

/**
 * The calling thread as a writer, or `null` if /proc cannot tell (no /proc,
 * no permission, a /proc of another namespace); throws a
 * transient failure (`isTransient`).
 */
export function writerOf(reader: ProcReader, pid: number): Writer | null {
  try {
    const [procPid, , thread] = reader.readLink("/proc/thread-self").split("/");
    // A /proc mounted for another PID namespace shows other numbers.
    if (Number(procPid) !== pid) return null;
    const stat = parseStat(reader.readText("/proc/thread-self/stat"));
    if (stat === null) return null;
    const host = createHash("sha256").update(
      `${bootId(reader)} ${pidNamespace(reader)} ${timeNamespace(reader)}`,
    ).digest(
      "hex",
    ).slice(0, 12);
    return { pid, thread: Number(thread), start: stat.start, host };
  } catch (error) {
    if (isTransient(error)) throw error;
    return null;
  }
}

/**
 * Whether `writer` still runs, judged by `me` (the sweeping thread, from
 * {@linkcode writerOf}). Never "gone" without proof.
 */
export function writerState(
  reader: ProcReader,
  me: Writer | null,
  writer: Writer,
): WriterState {
  if (me === null || me.host !== writer.host) return "unknown";
  try {
    const stat = parseStat(
      reader.readText(`/proc/${writer.pid}/task/${writer.thread}/stat`),
    );
    if (stat === null) return "unknown";
    // A zombie's code no longer runs; a different start time is another thread.
    if (hasEnded(stat.state)) return "gone";
    return stat.start === writer.start ? "alive" : "gone";
  } catch (error) {
    if (errorCode(error) !== "ENOENT") return "unknown";
    try {
      return procHidesOthers(reader) ? "unknown" : "gone";
    } catch {
      return "unknown";
    }
  }
}

/** The adapter's `writer` and `writerState`, on `reader`, for the process `pid`. */
export function procWriters(reader: ProcReader, pid: () => number): {
  writer(): Writer | { pid: number };
  writerState(writer: Writer): WriterState;
} {
  // Read once per thread: a thread's identity never changes. A transient
  // failure (out of descriptors) is not kept: one would leave every later
  // temporary file of this thread with a bare process id, which no sweeper
  // can judge.
  let me: Writer | null | undefined;
  const self = () => {
    if (me !== undefined) return me;
    try {
      return me = writerOf(reader, pid());
    } catch {
      return null;
    }
  };
  return {
    writer: () => self() ?? { pid: pid() },
    writerState: (writer) => writerState(reader, self(), writer),
  };
}

// ------------------------------------------------ processes, for lock files

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
  /**
   * The time namespace (`time:[4026531834]`; `""` on a kernel without
   * them): start times compare only within one. Absent from the records of
   * versions that did not write it (then they never compare).
   */
  readonly timens?: string;
}

/** What /proc says about another process. */
export interface ProcessStart {
  /** Field 22 of /proc/PID/stat: the start time, in clock ticks since boot. */
  readonly start: string;
  /** The process has ended and only waits for its parent to reap it (state Z or X). */
  readonly zombie: boolean;
}

/** /proc through `node:fs`, the same on Deno, Bun and Node. */
const nodeFsReader: ProcReader = {
  readText: (path) => fs.readFileSync(path, "latin1"),
  readLink: (path) => fs.readlinkSync(path),
};

/**
 * `read()`, or `""` where it throws (no /proc, no permission); throws a
 * transient failure (`isTransient`).
 */
function orEmpty(read: () => string): string {
  try {
    return read().trim();
  } catch (error) {
    if (isTransient(error)) throw error;
    return "";
  }
}

/**
 * The start time and state of process `pid`; `null` if there is no such
 * process, no /proc, a /proc of another PID namespace, or it cannot be read
 * now.
 */
export function processStart(pid: number): ProcessStart | null {
  try {
    return startOf(pid);
  } catch {
    return null;
  }
}

/** {@linkcode processStart}, throwing a transient failure (`isTransient`). */
function startOf(pid: number): ProcessStart | null {
  if (!procIsOurs(nodeFsReader, process.pid)) return null;
  const stat = parseStat(
    orEmpty(() => nodeFsReader.readText(`/proc/${pid}/stat`)),
  );
  return stat && { start: String(stat.start), zombie: hasEnded(stat.state) };
}

let identity: ProcessIdentity | undefined;

/**
 * This process's identity, read once. Where /proc shows another PID
 * namespace, start time and namespaces stay empty: then no waiter compares
 * them, and the lease decides. So they do where a transient failure (out
 * of descriptors) kept /proc from telling: that identity is not kept, and
 * the next lock reads it again.
 */
export function processIdentity(): ProcessIdentity {
  if (identity !== undefined) return identity;
  try {
    return identity = readIdentity();
  } catch {
    return {
      host: "",
      boot: "",
      pid: process.pid,
      start: "",
      pidns: "",
      timens: "",
    };
  }
}

function readIdentity(): ProcessIdentity {
  const ours = procIsOurs(nodeFsReader, process.pid);
  const read = (fact: () => string) => ours ? orEmpty(fact) : "";
  return {
    host: orEmpty(() => os.hostname()),
    boot: orEmpty(() => bootId(nodeFsReader)),
    pid: process.pid,
    start: startOf(process.pid)?.start ?? "",
    pidns: read(() => pidNamespace(nodeFsReader)),
    timens: read(() => timeNamespace(nodeFsReader)),
  };
}

/**
 * When this machine booted, in ms since the epoch, rounded down to the
 * second (`btime` in /proc/stat); `null` where /proc cannot tell, or shows
 * the shifted clocks of a time namespace. Read anew at every call, never
 * kept: the kernel derives `btime` from the wall clock (the time now less
 * the time since boot), so a step of the clock moves it. A value read while
 * the clock ran ahead, kept after NTP set it back, would judge a live lock
 * of another machine of the same name, heartbeated since, to be from before
 * this boot, and take it from its holder. Only a lock of another boot of
 * this host name asks (see `_lock_record.ts`): a rare path.
 */
export function bootTime(): number | null {
  try {
    const ns = timeNamespace(nodeFsReader);
    if (ns !== "" && ns !== INITIAL_TIME_NAMESPACE) return null;
    const btime = /^btime (\d+)$/m.exec(nodeFsReader.readText("/proc/stat"));
    return btime === null ? null : Number(btime[1]) * 1000;
  } catch {
    return null;
  }
}

/** Whether a process with this id is alive on this machine (EPERM: alive, not ours). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === "EPERM";
  }
}
