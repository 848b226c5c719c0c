#!/usr/bin/env node
/**
 * `atomic-write`: soak up standard input, then replace FILE with it
 * atomically and durably, like moreutils' `sponge` but never torn: readers,
 * crashes and power cuts see the old content or the new, never a mix.
 *
 * ```sh
 * jq '.x = 1' config.json | atomic-write config.json
 * deno run -A jsr:@x/atomic/cli --help
 * ```
 *
 * The input is streamed into a temporary file beside FILE (memory stays
 * bounded, whatever its size); FILE is replaced only once standard input has
 * ended. Ctrl-C, SIGTERM or SIGHUP before that leaves FILE untouched and
 * removes the temporary file: the command, unlike the library, is the
 * program, so it handles those signals itself. Empty input never empties a non-empty FILE unless
 * `--allow-empty` is given: a failed upstream command usually prints nothing,
 * and its exit status cannot be seen from the other end of a pipe.
 *
 * With `--update FILE -- CMD [ARGS…]` it runs CMD under FILE's
 * cross-process lock with FILE's content on its standard input, and
 * replaces FILE with CMD's output only if CMD exits 0: a failing `jq` can
 * no longer empty the file, and concurrent updates are never lost.
 *
 * Exit status: 0 written; 1 not written (a file-system error, named with its
 * path and code, empty input refused, or standard input a directory); 2 bad
 * usage; 3 written, but the directory fsync failed, so the new content is
 * in place yet may not survive a power cut; with `--update`, a failing
 * CMD's own status.
 *
 * @module
 */
import fs from "node:fs";
import process from "node:process";
import { spawn } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import os from "node:os";
import { AtomicWriteError, lockFile, openAtomic } from "./mod.ts";
import type { AtomicFile, AtomicOptions, FileLock } from "./mod.ts";
import { codeOf, errorCode } from "./src/_error_code.ts";
import { isWithheldPermission } from "./src/runtime/_errno.ts";
import { nulSeparated, rawEnvironment } from "./src/runtime/_exact_name.ts";
import { toAbsolutePath } from "./src/_validate.ts";
import {
  checkLockedOpen,
  lockedEntry,
  openUnderLock,
} from "./src/_open_under_lock.ts";

/** The package version; a test checks that it equals `deno.json`'s. */
const VERSION = "0.1.0";

const USAGE = `Usage: atomic-write [options] FILE
       atomic-write [options] --update FILE -- CMD [ARGS...]

Reads all of standard input, then replaces FILE with it atomically and
durably: readers, crashes and power cuts see the old content or the new one,
never a mix. Nothing changes until standard input ends; Ctrl-C before that
leaves FILE as it was.

With --update, takes FILE's lock (shared with every process that updates
FILE with @x/atomic: concurrent updates are never lost), runs CMD with
FILE's current content on its standard input (empty if FILE does not
exist), and replaces FILE with CMD's standard output only if CMD exits 0.
Otherwise FILE is unchanged and CMD's exit status is passed on; its
standard error is passed through. Example:
  atomic-write --update config.json -- jq '.port = 8080'

Options:
  --update FILE   run CMD under FILE's lock and replace FILE with its output
  --append        keep FILE's content and add the input after it (under
                  FILE's lock, as --update)
  --no-overwrite  fail (EEXIST) if FILE exists, leaving it untouched
  --mkdir         create missing parent directories
  --mode MODE     permission bits in octal, e.g. 640 (default: FILE's
                  current bits; for a new file 666 less the umask)
  --no-fsync      skip fsync: a power cut may then bring back older content,
                  or (ext4 data=writeback) leave FILE torn
  --allow-empty   let empty input empty a non-empty FILE (refused otherwise,
                  since a failed upstream command usually prints nothing)
  -h, --help      print this help and exit
  --version       print the version and exit

Exit status: 0 written; 1 not written (file-system error, empty input
refused, or standard input a directory; FILE is unchanged); 2 bad usage;
3 written, but the directory fsync failed: the new content is in place but
may not survive a power cut. With --update: CMD's own status when it fails
as a shell gives it (128 + n if signal n ended it; 127 if it was not found,
126 if not executable), and FILE is unchanged.
`;

/** Exit status when only the directory fsync failed: FILE holds the new content. */
const WRITTEN_NOT_DURABLE = 3;

/** What the command line asks for. */
interface Command {
  file: string;
  options: AtomicOptions;
  append: boolean;
  allowEmpty: boolean;
  /** With --update: the command to run under the lock. */
  update: string[] | null;
}

/** A bad command line: exit status 2. */
class UsageError extends Error {}

/** A refusal or failure to report on stderr: exit status 1. */
class Failure extends Error {}

function parseMode(text: string | undefined): number {
  if (text === undefined) throw new UsageError('"--mode" needs a value');
  if (!/^[0-7]{1,4}$/.test(text)) {
    throw new UsageError(
      `Cannot use mode "${text}": expected 1 to 4 octal digits, like 640`,
    );
  }
  return parseInt(text, 8);
}

/** Decodes UTF-8, throwing on bytes that are not; a leading BOM is kept, as `argv` keeps it. */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `bytes` as UTF-8, or `null` if they are not. */
function utf8OrNull(bytes: Uint8Array): string | null {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Throws a {@linkcode UsageError} if an argument was not valid UTF-8: every
 * runtime decodes `argv` with U+FFFD in place of such bytes, so FILE or CMD
 * would silently name something else. An argument with U+FFFD is checked
 * against its raw bytes in /proc/self/cmdline (the arguments are its last
 * entries); where that cannot be read, it is refused as undecidable.
 */
function refuseLossyArgs(args: string[]): void {
  if (!args.some((arg) => arg.includes("\uFFFD"))) return;
  let raw: Uint8Array[] = [];
  try {
    raw = nulSeparated(fs.readFileSync("/proc/self/cmdline"))
      .slice(-args.length);
  } catch { /* not Linux: refused below */ }
  for (const [i, arg] of args.entries()) {
    if (!arg.includes("\uFFFD")) continue;
    if (raw.length !== args.length) {
      throw new UsageError(
        `Cannot use argument "${arg}": U+FFFD may stand for bytes that are not UTF-8, and /proc/self/cmdline cannot tell`,
      );
    }
    if (utf8OrNull(raw[i]) !== arg) {
      throw new UsageError(
        `Cannot use argument "${arg}": it is not valid UTF-8, and would name something else`,
      );
    }
  }
}

/**
 * Throws a {@linkcode UsageError} if an environment variable is not valid
 * UTF-8: CMD of --update would get it changed, Node and Bun decoding its
 * bytes to U+FFFD (a `PATH` entry then names another directory, and another
 * program runs), Deno dropping it. Read from /proc/self/environ; where that
 * cannot be read, a variable holding U+FFFD is refused as undecidable, and
 * one that Deno dropped goes unseen.
 */
function refuseLossyEnvironment(): void {
  const environ = rawEnvironment();
  if (environ === null) {
    let variables: [string, string | undefined][];
    try {
      variables = Object.entries(process.env);
    } catch {
      return; // not readable (Deno without --allow-env): CMD cannot be run, and says so
    }
    const lossy = variables
      .find(([name, value]) => `${name}=${value}`.includes("\uFFFD"));
    if (lossy === undefined) return;
    throw new UsageError(
      `Cannot run CMD with the environment variable "${
        lossy[0]
      }": U+FFFD may stand for bytes that are not UTF-8, and /proc/self/environ cannot tell`,
    );
  }
  for (const entry of environ) {
    if (utf8OrNull(entry) !== null) continue;
    const equals = entry.indexOf(0x3d); // "="
    const name = new TextDecoder().decode(
      entry.subarray(0, equals === -1 ? undefined : equals),
    );
    throw new UsageError(
      `Cannot run CMD with the environment variable "${name}": it is not valid UTF-8, and the runtime would hand CMD another value (or none)`,
    );
  }
}

/** Reads the arguments; a string: the help or the version, to print. */
function parseArgs(args: string[]): Command | string {
  // No prototype: an option not given reads undefined, whatever
  // `Object.prototype` holds.
  const options: AtomicOptions = Object.create(null);
  let append = false;
  let allowEmpty = false;
  let update: string[] | null = null;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      if (update !== null) {
        update = args.slice(i + 1);
        if (update.length === 0 || update[0] === "") {
          throw new UsageError('Missing CMD after "--"');
        }
      } else files.push(...args.slice(i + 1));
      break;
    }
    if (arg === "--update" || arg.startsWith("--update=")) {
      const file = arg === "--update" ? args[++i] : arg.slice(9);
      if (file === undefined || file === "" || file === "--") {
        throw new UsageError('"--update" needs a FILE');
      }
      files.push(file);
      update = [];
      continue;
    }
    if (arg === "-h" || arg === "--help") return USAGE;
    if (arg === "--version") return `atomic-write ${VERSION}\n`;
    if (arg === "--no-fsync") options.fsync = false;
    else if (arg === "--mkdir") options.mkdir = true;
    else if (arg === "--no-overwrite") options.overwrite = false;
    else if (arg === "--append") append = true;
    else if (arg === "--allow-empty") allowEmpty = true;
    else if (arg === "--mode") options.mode = parseMode(args[++i]);
    else if (arg.startsWith("--mode=")) options.mode = parseMode(arg.slice(7));
    else if (arg.startsWith("-") && arg !== "-") {
      throw new UsageError(`Unknown option "${arg}"`);
    } else files.push(arg);
  }
  if (files.length !== 1) {
    throw new UsageError(
      files.length === 0
        ? "Missing FILE"
        : update !== null
        ? `Expected one FILE, got ${files.length}: CMD goes after "--", as in "--update FILE -- CMD [ARGS...]"`
        : `Expected one FILE, got ${files.length}`,
    );
  }
  if (append && options.overwrite === false) {
    throw new UsageError('"--append" and "--no-overwrite" exclude each other');
  }
  if (update !== null) {
    if (update.length === 0) {
      throw new UsageError('"--update FILE" needs "-- CMD [ARGS...]"');
    }
    if (append || options.overwrite === false) {
      throw new UsageError(
        `"--update" excludes "${append ? "--append" : "--no-overwrite"}"`,
      );
    }
  }
  return { file: files[0], options, append, allowEmpty, update };
}

/** Copies FILE's current content (if it exists) into `file`. */
async function copyOld(
  lock: FileLock,
  target: string,
  file: AtomicFile,
): Promise<void> {
  const handle = await openLocked(lock, target, "append to");
  if (handle === null) return;
  try {
    const buffer = new Uint8Array(64 * 1024);
    for (;;) {
      let read: number;
      try {
        ({ bytesRead: read } = await handle.read(buffer, 0, buffer.length));
      } catch (error) {
        throw new Failure(
          `Cannot append to "${target}": read failed (${codeOf(error)})`,
        );
      }
      if (read === 0) return;
      await file.write(buffer.subarray(0, read));
    }
  } finally {
    await handle.close();
  }
}

/**
 * The chunks of standard input, from its current offset. A regular file is
 * read with `fs.read` at the offset the shell left (`{ head -n 1; cmd; } <
 * f`): Bun's `process.stdin` starts such a file at byte 0.
 */
async function* standardInput(): AsyncGenerator<Uint8Array> {
  const stat = fs.fstatSync(0);
  // Node and Deno read a directory as empty input, Bun fails with EISDIR: fail alike everywhere.
  if (stat.isDirectory()) {
    throw Object.assign(new Error("standard input is a directory"), {
      code: "EISDIR",
    });
  }
  if (!stat.isFile()) {
    for await (const chunk of process.stdin) yield chunk as Uint8Array;
    return;
  }
  for (;;) {
    const buffer = new Uint8Array(64 * 1024);
    const bytesRead = await new Promise<number>((resolve, reject) =>
      fs.read(0, buffer, 0, buffer.length, null, (error, read) => {
        if (error) reject(error);
        else resolve(read);
      })
    );
    if (bytesRead === 0) return;
    yield buffer.subarray(0, bytesRead);
  }
}

/** Streams standard input into `file`; returns how many bytes came. */
async function soak(target: string, file: AtomicFile): Promise<number> {
  let total = 0;
  try {
    for await (const chunk of standardInput()) {
      total += chunk.length;
      await file.write(chunk);
    }
  } catch (error) {
    if (error instanceof AtomicWriteError) throw error;
    throw new Failure(
      `Cannot replace "${target}": reading standard input failed (${
        codeOf(error)
      })`,
    );
  }
  return total;
}

/** The size of FILE (following links), or 0 if it does not exist. */
function currentSize(target: string): number {
  try {
    return fs.statSync(target).size;
  } catch {
    return 0;
  }
}

/** CMD of --update failed: its exit status is passed on. */
class CommandFailed extends Error {
  /** The exit status to pass on. */
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

/**
 * The shell script that runs CMD (its arguments) and reports on fd 3 first
 * CMD's pid (`pid N`: the inner shell's, which then becomes CMD by `exec`),
 * then CMD's exit status as a shell sees it (`status N`: 128 + n when
 * signal n ended it). Each line says what it is: a status must never be
 * taken for a pid and signalled, as it was when the inner shell died before
 * it could tell its pid. Both shells are `/bin/sh`, whatever `PATH` holds.
 * Node and Bun report a child ended by a signal they cannot name (the
 * real-time signals 34 to 64) as exited 0, and Deno throws: the status the
 * shell writes reads alike on every runtime. The shell's own stderr goes to
 * /dev/null, so it adds no "Killed" line; CMD gets the real stderr. A script
 * without `#!` is run by the shell, a CMD not found exits 127 and one not
 * executable 126, as in any shell.
 */
const REPORTER = `exec 4>&2 2>/dev/null
/bin/sh -c 'echo "pid $$" >&3; exec "$@" 2>&4 3>&- 4>&-' atomic-write "$@"
echo "status $?" >&3`;

/** The number a `REPORTER` line `what N` in `reported` gives, if it has come. */
function reportedNumber(
  reported: string,
  what: "pid" | "status",
): number | null {
  const line = new RegExp(`^${what} ([0-9]+)$`, "m").exec(reported);
  return line === null ? null : Number(line[1]);
}

/** A command run for --update: `kill` passes a signal on to CMD itself. */
interface Running {
  kill(signal: NodeJS.Signals): void;
}

/** Resolves once `stream` has ended (Bun ends a child's pipes after its `close`). */
function drained(stream: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve) => {
    for (const event of ["end", "close", "error"]) stream.on(event, resolve);
  });
}

/** The largest signal number a shell adds to 128 (Linux's `SIGRTMAX`). */
const LAST_SIGNAL = 64;

/**
 * What `status` (a shell's) says about how CMD ended, for a message. A
 * shell reports signal n as 128 + n, which an exit can give too: only a
 * status above 128 + {@linkcode LAST_SIGNAL} is surely an exit.
 */
function describeStatus(status: number): string {
  if (status <= 128 || status > 128 + LAST_SIGNAL) {
    return `exited with ${status}`;
  }
  const signal =
    Object.entries(os.constants.signals).find(([, number]) =>
      number === status - 128
    )?.[0] ?? `signal ${status - 128}`;
  return `was ended by ${signal} (or exited with ${status})`;
}

/**
 * Runs `argv` with `input` (FILE's handle, or none: empty input) on its
 * standard input and hands each chunk of its standard output to `sink` as it
 * comes (never all at once: a huge output must not stall the event loop and
 * FILE's lock heartbeat); resolves to the number of bytes once CMD has exited
 * 0 (`target`, FILE, is named in the failure). `started` is given a way
 * to signal CMD. If `sink` fails, CMD's output
 * is closed (it gets SIGPIPE) and, once it has ended, that failure rejects.
 */
function runCommand(
  argv: string[],
  input: fs.promises.FileHandle | null,
  target: string,
  started: (running: Running) => void,
  sink: (chunk: Uint8Array) => Promise<void>,
): Promise<number> {
  return new Promise((resolveTotal, reject) => {
    // Windows has no sh and no signals: its exit code is the status there.
    const [exe, args] = process.platform === "win32"
      ? [argv[0], argv.slice(1)]
      : ["/bin/sh", ["-c", REPORTER, "atomic-write", ...argv]];
    const cannotRun = (error: unknown) =>
      new CommandFailed(
        `Cannot run "${argv[0]}": ${
          error instanceof Error ? error.message : String(error)
        } (${codeOf(error)})`,
        127,
      );
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(exe, args, { stdio: ["pipe", "pipe", "inherit", "pipe"] });
    } catch (error) {
      // Deno without --allow-env: CMD's environment cannot be read.
      return reject(cannotRun(error));
    }
    // At once: Deno tells a withheld --allow-run by this event, after
    // leaving child.stdio unset.
    child.on("error", (error) => reject(cannotRun(error)));
    if (!child.stdio?.[3]) return;
    let pid = process.platform === "win32" ? child.pid ?? null : null;
    let pending: NodeJS.Signals | null = null;
    let ended = false;
    let reported = "";
    // Once its status has come, CMD's pid may already belong to another process.
    const signalCmd = (signal: NodeJS.Signals) => {
      try {
        const done = ended || reportedNumber(reported, "status") !== null;
        if (!done && pid !== null && pid > 1) process.kill(pid, signal);
      } catch { /* CMD has just ended */ }
    };
    started({
      kill: (signal) => pid === null ? pending = signal : signalCmd(signal),
    });
    const [stdin, stdout, , report] = child.stdio as unknown as [
      Writable,
      Readable,
      null,
      Readable,
    ];
    report.setEncoding("latin1");
    report.on("data", (text: string) => {
      reported += text;
      if (pid === null) {
        pid = reportedNumber(reported, "pid");
        if (pid !== null && pending !== null) signalCmd(pending);
      }
    });
    stdin.on("error", () => {}); // CMD need not read all of its input
    if (input === null) stdin.end();
    else {
      const old = input.createReadStream({ autoClose: false });
      old.on("error", () => stdin.end()); // FILE unreadable: CMD sees its end
      old.pipe(stdin);
    }
    const pumped = (async () => {
      let total = 0;
      for await (const chunk of stdout) {
        total += (chunk as Uint8Array).length;
        try {
          await sink(chunk as Uint8Array);
        } catch (error) {
          // Destroyed without an error before the loop leaves it: the
          // iterator's own AbortError made Deno reject a promise no one
          // could catch, and the command died of it.
          stdout.destroy();
          throw error;
        }
      }
      return total;
    })();
    // Settled with the rest: CMD must end before its failure is told.
    pumped.catch(() => stdout.destroy());
    const exited = new Promise<number | null>((resolve) =>
      child.on("close", (code) => resolve(code))
    );
    const outcome = Promise.allSettled([pumped]);
    void Promise.all([exited, outcome, drained(report)]).then(
      ([code, [total]]) => {
        ended = true;
        const status = reportedNumber(reported, "status") ??
          (process.platform === "win32" ? code : null);
        // Writing failed (no space, lost lock): that, not CMD's SIGPIPE, is told.
        if (total.status === "rejected") return reject(total.reason);
        if (status === 0) return resolveTotal(total.value);
        reject(
          new CommandFailed(
            `"${argv.join(" ")}" ${
              status === null
                ? "ended without reporting its status"
                : describeStatus(status)
            }: "${target}" is unchanged`,
            status ?? 1,
          ),
        );
      },
    );
  });
}

/**
 * The file `lock` holds (FILE, `target`) opened for reading, or `null` if
 * it does not exist; `task` names what reads it, for a message. Opened in
 * the directory the lock holds, and never through a link: the file locked
 * was none, and one in its place now leads to a file not locked. Refused as
 * an update refuses what it reads (`checkLockedOpen`): another user's file
 * put at the name in a shared sticky directory since the lock looked.
 */
async function openLocked(
  lock: FileLock,
  target: string,
  task: string,
): Promise<fs.promises.FileHandle | null> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(lockedEntry(lock), LOCKED_READ);
  } catch (error) {
    const code = errorCode(error);
    if (code === "ENOENT") return null;
    throw new Failure(
      code === "ELOOP"
        ? `Cannot ${task} "${target}": a symbolic link has taken the name of the file locked since the lock was taken (EAGAIN)`
        : `Cannot ${task} "${target}": open failed (${codeOf(error)})`,
    );
  }
  try {
    await checkLockedOpen(lock, await handle.stat({ bigint: true }));
    return handle;
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** How FILE is opened for reading under its lock (see {@linkcode openLocked}). */
const LOCKED_READ = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) |
  (fs.constants.O_NONBLOCK ?? 0);

/**
 * --update: CMD's output replaces FILE, under FILE's lock, if CMD succeeds.
 * The output streams into FILE's temporary file as it comes (through
 * `openAtomic`, aborted if the lock is lost). FILE as spelled (made
 * absolute, never normalized: `alias/..` goes through the link, as for the
 * other modes). On SIGINT, SIGTERM or SIGHUP, the signal is passed on to
 * CMD, the update is cancelled (FILE untouched, its lock and the temporary
 * file gone), and the command ends by it.
 */
async function runUpdate(command: Command, argv: string[]): Promise<void> {
  const { options, allowEmpty } = command;
  const target = toAbsolutePath(command.file);
  const guard = discardOnSignals();
  const cancel = new AbortController();
  let running: Running | null = null;
  const update = (async () => {
    const lock = await lockFile(target, {
      mkdir: options.mkdir,
      signal: cancel.signal,
    });
    try {
      const file = await openUnderLock(lock, {
        ...options,
        signal: AbortSignal.any([lock.signal, cancel.signal]),
      });
      let current: fs.promises.FileHandle | null = null;
      try {
        current = await openLocked(lock, target, "update");
        const size = current === null ? 0 : (await current.stat()).size;
        // A signal that came while FILE was being opened: CMD never starts.
        cancel.signal.throwIfAborted();
        const total = await runCommand(
          argv,
          current,
          target,
          (started) => running = started,
          (chunk) => file.write(chunk),
        );
        if (total === 0 && !allowEmpty && size > 0) {
          throw new Failure(
            `Refusing to replace "${target}" (${size} bytes) with the empty output of "${
              argv[0]
            }": pass --allow-empty to allow it`,
          );
        }
      } catch (error) {
        await file.abort();
        throw error;
      } finally {
        await current?.close();
      }
      await file.commit();
    } finally {
      await lock.release();
    }
  })();
  guard.adopt((signal) => {
    cancel.abort();
    (running as Running | null)?.kill(signal);
    return outcomeOf(update);
  });
  try {
    await update;
  } catch (error) {
    if (guard.signalled && !isCommitted(error)) return await dying();
    throw error;
  }
  guard.finish();
}

/** The signals that end the command while it soaks (Windows has only SIGINT). */
const ENDING_SIGNALS: NodeJS.Signals[] = process.platform === "win32"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * What to undo on an ending signal before dying of it: resolves once undone,
 * or to {@linkcode COMMITTED} where FILE was already replaced, which no
 * signal undoes: the command then finishes, and exits as it would have.
 */
type Undo = (signal: NodeJS.Signals) => Promise<unknown>;

/** What an {@linkcode Undo} resolves to where there was nothing left to undo: FILE is replaced. */
const COMMITTED = Symbol("committed");

/** Whether `error` still means that FILE was replaced (only making it durable failed). */
function isCommitted(error: unknown): boolean {
  return error instanceof AtomicWriteError && error.committed;
}

/** {@linkcode COMMITTED} once `work` has replaced FILE, else `undefined` once it failed. */
function outcomeOf(
  work: Promise<unknown>,
): Promise<typeof COMMITTED | undefined> {
  return work.then(
    () => COMMITTED,
    (error) => isCommitted(error) ? COMMITTED : undefined,
  );
}

/** How the command reacts to ending signals while it works. */
interface SignalGuard {
  /** Whether an ending signal came: the command then only waits to die of it. */
  readonly signalled: boolean;
  /**
   * What to undo on a signal from now on; `null`: nothing yet, a signal
   * waits for the next `adopt` (something is being made).
   */
  adopt(undo: Undo | null): void;
  /**
   * FILE is replaced, and the command only exits (0) from here: an ending
   * signal is taken and ignored until then. Giving the signals back their
   * default action instead let one that came in the last milliseconds end
   * the command by it, FILE written.
   */
  finish(): void;
}

/**
 * Until `finish()`, a signal in {@linkcode ENDING_SIGNALS} runs the adopted
 * undo (discard the file, release the lock, cancel the update) and then
 * ends the process by that same signal (its default action: the handlers
 * go as the first signal comes, so that a second one ends the command at
 * once); where the undo finds FILE replaced, the command finishes instead.
 * The library never listens to signals; the command may, being the
 * program. Installed before anything is made, so that no signal finds a
 * temporary file or a lock unguarded.
 */
function discardOnSignals(): SignalGuard {
  const handlers = new Map<NodeJS.Signals, () => void>();
  let received: NodeJS.Signals | null = null;
  let adopted: { undo: Undo | null } | null = null;
  let finished = false;
  let listening = false;
  const listen = (on: boolean) => {
    if (listening === on) return;
    listening = on;
    for (const [signal, handler] of handlers) {
      if (on) process.on(signal, handler);
      else process.removeListener(signal, handler);
    }
  };
  const die = (undo: Undo | null, signal: NodeJS.Signals) =>
    void (undo?.(signal) ?? Promise.resolve()).catch(() => {}).then(
      (outcome) => {
        if (outcome === COMMITTED) guard.finish();
        else process.kill(process.pid, signal);
      },
    );
  const guard: SignalGuard = {
    get signalled() {
      return received !== null;
    },
    adopt: (undo) => {
      if (undo === null) return void (adopted = null);
      adopted = { undo };
      if (received !== null) die(undo, received);
    },
    finish: () => {
      finished = true;
      listen(true);
    },
  };
  for (const signal of ENDING_SIGNALS) {
    handlers.set(signal, () => {
      if (finished) return;
      received = signal;
      listen(false);
      if (adopted !== null) die(adopted.undo, signal);
    });
  }
  listen(true);
  return guard;
}

/** Never settles: the process is about to die of a signal. */
const dying = () => new Promise<never>(() => {});

async function run(command: Command): Promise<void> {
  if (command.update !== null) return await runUpdate(command, command.update);
  const { options, append } = command;
  // The temporary file exists from here on; it is removed on SIGINT,
  // SIGTERM and SIGHUP (the guard), on any failure, and at exit.
  const guard = discardOnSignals();
  // --append reads FILE and replaces it: under FILE's lock, as --update, so
  // that neither loses the other's change (a lost lock aborts the write).
  let lock: FileLock | null = null;
  if (append) {
    const cancel = new AbortController();
    const taking = lockFile(command.file, {
      mkdir: options.mkdir,
      signal: cancel.signal,
    });
    guard.adopt(() => {
      cancel.abort();
      return taking.then((taken) => taken.release());
    });
    try {
      lock = await taking;
    } catch (error) {
      if (guard.signalled) return await dying();
      throw error;
    }
    if (guard.signalled) return await dying();
    guard.adopt(null); // a signal from here waits for the file
  }
  // Cancels the write on a signal, up to its rename (see `writeAndCommit`).
  const cancel = new AbortController();
  let file: AtomicFile;
  try {
    file = lock
      ? await openUnderLock(lock, {
        ...options,
        signal: AbortSignal.any([lock.signal, cancel.signal]),
      })
      : await openAtomic(command.file, { ...options, signal: cancel.signal });
  } catch (error) {
    const held = lock;
    guard.adopt(() => held?.release() ?? Promise.resolve());
    if (guard.signalled) return await dying();
    await held?.release();
    throw error;
  }
  let committing: Promise<void> | null = null;
  const commit = () => committing ??= file.commit();
  let releasing: Promise<void> | undefined;
  const release = () => releasing ??= lock?.release() ?? Promise.resolve();
  guard.adopt(async () => {
    cancel.abort();
    const outcome = committing === null
      ? await file.abort()
      : await outcomeOf(committing);
    await release();
    return outcome;
  });
  try {
    await writeAndCommit(command, file, guard, lock, commit);
  } finally {
    // Not reached once a signal undid the write: its undo releases.
    await release();
  }
  guard.finish();
}

/** Plain mode's body, once FILE's temporary file is open: fill it, then `commit()` it. */
async function writeAndCommit(
  command: Command,
  file: AtomicFile,
  guard: SignalGuard,
  lock: FileLock | null,
  commit: () => Promise<void>,
): Promise<void> {
  const { append, allowEmpty } = command;
  // As spelled, not normalized: the old content is read from the file the
  // kernel finds (`alias/..` goes through the link), the one replaced.
  const target = file.path;
  try {
    if (append && lock) await copyOld(lock, target, file);
    const received = await soak(target, file);
    if (received === 0 && !append && !allowEmpty) {
      const size = currentSize(target);
      if (size > 0) {
        throw new Failure(
          `Refusing to replace "${target}" (${size} bytes) with empty input: pass --allow-empty to allow it`,
        );
      }
    }
  } catch (error) {
    if (guard.signalled) return await dying();
    await file.abort();
    throw error;
  }
  // Ctrl-C in a pipeline also ends the input, and a signal sent just before
  // the end may be handled after it: the handlers stay until the lock is
  // released, and one that runs before the rename cancels it (the file's
  // signal). Removing them sooner dropped such a signal on Node and Deno:
  // FILE then took the input cut short, with status 0. One that runs after
  // the rename undoes nothing: the command finishes (see `Undo`).
  try {
    await commit();
  } catch (error) {
    if (guard.signalled && !isCommitted(error)) return await dying();
    throw error;
  }
}

/** `file` made absolute as the library makes it (never normalized), for a message. */
function absolute(file: string): string {
  try {
    return toAbsolutePath(file);
  } catch {
    return file;
  }
}

/**
 * Reports `message` on stderr, best-effort, and exits with `status`: a
 * stderr that cannot be written (`2>/dev/full`; Deno throws ENOSPC at once)
 * must not change the documented status.
 */
function fail(message: string, status: number): never {
  try {
    process.stderr.on("error", () => {});
    process.stderr.write(`atomic-write: ${message}\n`);
  } catch { /* the status still tells */ }
  process.exit(status);
}

/** Writes `text` on stdout; resolves to the error if it could not be written. */
function print(text: string): Promise<unknown> {
  return new Promise((resolve) => {
    try {
      process.stdout.on("error", resolve);
      process.stdout.write(text, resolve);
    } catch (error) {
      resolve(error);
    }
  });
}

/**
 * A file-size limit (`ulimit -f`) fails the write that reaches it with
 * `EFBIG` (exit 1, FILE unchanged, nothing left), rather than ending the
 * command by `SIGXFSZ`, which Node and Bun ignore and Deno does not: the
 * command, being the program, may listen to it.
 */
function fileSizeLimitFailsWrites(): void {
  if (process.platform !== "win32") process.on("SIGXFSZ", () => {});
}

async function main(args: string[]): Promise<void> {
  let command: Command | string;
  try {
    refuseLossyArgs(args);
    command = parseArgs(args);
    if (typeof command !== "string" && command.update) refuseLossyEnvironment();
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    fail(`${error.message}\nTry "atomic-write --help".`, 2);
  }
  if (typeof command === "string") {
    const error = await print(command);
    if (error) {
      fail(`Cannot write to standard output (${codeOf(error)})`, 1);
    }
    process.exit(0);
  }
  fileSizeLimitFailsWrites();
  try {
    await run(command);
  } catch (error) {
    if (error instanceof AtomicWriteError && error.committed) {
      fail(
        `${error.message} (the new content is in place, but may not survive a power cut)`,
        WRITTEN_NOT_DURABLE,
      );
    }
    if (error instanceof AtomicWriteError) {
      const hint = error.code === "ENOENT" && !command.options.mkdir &&
          ["create temporary file", "create lock"].includes(error.operation)
        ? "\nTry --mkdir to create missing directories."
        : "";
      fail(error.message + hint, 1);
    }
    if (error instanceof Failure) fail(error.message, 1);
    if (error instanceof CommandFailed) fail(error.message, error.status);
    if (error instanceof TypeError || error instanceof RangeError) {
      fail(error.message, 2);
    }
    // Anything else (a Deno permission the process lacks, …): still exit 1,
    // with the runtime's own words (a withheld permission's message names
    // the flag),
    // and FILE untouched.
    const { name, message } = error instanceof Error
      ? error
      : { name: "Error", message: String(error) };
    const code = errorCode(error);
    const what = isWithheldPermission(error) ? message : `${name}: ${message}`;
    fail(
      `Cannot replace "${absolute(command.file)}": ${what}${
        code === undefined ? "" : ` (${code})`
      }`,
      1,
    );
  }
  process.exit(0);
}

/**
 * Whether this module is the program: `import.meta.main`, or where the
 * runtime has none (Node before 22.18 and 24.2), whether the script Node
 * was started with is this file (npm's bin is a link to it; `node
 * dist/cli` names it without its extension, as Node finds it).
 */
function isProgram(): boolean {
  if (typeof import.meta.main === "boolean") return import.meta.main;
  let me: string;
  try {
    me = fs.realpathSync(new URL(import.meta.url));
  } catch {
    return false;
  }
  const started = process.argv[1] ?? "";
  return ["", ".js", ".mjs"].some((extension) => {
    try {
      return fs.realpathSync(started + extension) === me;
    } catch {
      return false;
    }
  });
}

// Only as a program: importing this module (`deno test --doc`, a bundler)
// must not read standard input or exit.
if (isProgram()) await main(process.argv.slice(2));
