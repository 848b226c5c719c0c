/**
 * Reading `strace` logs: the system calls of an `strace -f -y` log, with a
 * call interrupted by another thread's joined to its resumed half, and the
 * count of calls strace failed on purpose.
 */

/** One system call from the log. */
export interface Call {
  pid: string;
  name: string;
  /** The arguments and return value, as strace printed them. */
  text: string;
  ret: number;
  /** The log lines where it started and ended. */
  start: number;
  end: number;
}

/** The system calls in an `strace -f -y` log, unfinished and resumed halves joined. */
export function parseTrace(log: string): Call[] {
  const calls: Call[] = [];
  const open = new Map<string, Call>();
  const finish = (call: Call, tail: string, index: number) => {
    call.text += tail;
    call.end = index;
    const at = call.text.lastIndexOf(" = ");
    call.ret = at < 0 ? NaN : parseInt(call.text.slice(at + 3), 10);
  };
  log.split("\n").forEach((line, index) => {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) return;
    const [, pid, rest] = m;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest);
    if (resumed) {
      const call = open.get(pid);
      if (call && call.name === resumed[1]) finish(call, resumed[2], index);
      open.delete(pid);
      return;
    }
    const entry = /^(\w+)\((.*)$/.exec(rest);
    if (!entry) return;
    const call: Call = {
      pid,
      name: entry[1],
      text: "",
      ret: NaN,
      start: index,
      end: -1,
    };
    calls.push(call);
    if (entry[2].endsWith("<unfinished ...>")) {
      call.text = entry[2].slice(0, -"<unfinished ...>".length);
      open.set(pid, call);
    } else {
      finish(call, entry[2], index);
    }
  });
  return calls;
}

/** Whether `call` (from an `strace -y` log) is on the file descriptor of `file`. */
export function onPath(call: Call, file: string): boolean {
  return new RegExp(`^\\d+<${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}>`)
    .test(call.text);
}

/** How many calls in `log` strace failed on purpose (`-e inject`). */
export function injectedCount(log: string): number {
  return (log.match(/\(INJECTED\)/g) ?? []).length;
}

/** The system calls that write to a file descriptor. */
export const WRITES = ["write", "pwrite64", "writev", "pwritev", "pwritev2"];
/** The system calls that flush a file descriptor. */
export const SYNCS = ["fsync", "fdatasync"];
/** The system calls that open or create a file. */
export const OPENS = ["openat", "open", "creat"];
/** The system calls that rename. */
export const RENAMES = ["rename", "renameat", "renameat2"];
/** The system calls that make a hard link. */
export const LINKS = ["link", "linkat"];
