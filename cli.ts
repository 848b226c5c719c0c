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
import { Buffer } from "node:buffer";
import fs from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import { spawn } from "node:child_process";
import os from "node:os";
import { AtomicWriteError, openAtomic, updateFileAtomic } from "./mod.ts";
import type { AtomicFile, AtomicOptions } from "./mod.ts";
import { errorCode } from "./src/_error_code.ts";

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
  --append        keep FILE's content and add the input after it
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
(128 + the signal number if a signal ended it; 127 if it could not be
started), and FILE is unchanged.
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

/** Reads the arguments; `null` when help or the version was printed. */
function parseArgs(args: string[]): Command | null {
  const options: AtomicOptions = {};
  let append = false;
  let allowEmpty = false;
  let update: string[] | null = null;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      if (update !== null) {
        update = args.slice(i + 1);
        if (update.length === 0) throw new UsageError('Missing CMD after "--"');
      } else files.push(...args.slice(i + 1));
      break;
    }
    if (arg === "--update") {
      const file = args[++i];
      if (file === undefined || file === "--") {
        throw new UsageError('"--update" needs a FILE');
      }
      files.push(file);
      update = [];
      continue;
    }
    if (arg === "-h" || arg === "--help") {
      process.stdout.write(USAGE);
      return null;
    }
    if (arg === "--version") {
      process.stdout.write(`atomic-write ${VERSION}\n`);
      return null;
    }
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

function codeOf(error: unknown): string {
  return errorCode(error) ?? "EIO";
}

/** Copies FILE's current content (if it exists) into `file`. */
async function copyOld(target: string, file: AtomicFile): Promise<void> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(target, "r");
  } catch (error) {
    if (codeOf(error) === "ENOENT") return;
    throw new Failure(
      `Cannot append to "${target}": open failed (${codeOf(error)})`,
    );
  }
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

/** Streams standard input into `file`; returns how many bytes came. */
async function soak(target: string, file: AtomicFile): Promise<number> {
  let total = 0;
  try {
    // Node and Deno read a directory as empty input, Bun fails with EISDIR: fail alike everywhere.
    if (fs.fstatSync(0).isDirectory()) {
      throw Object.assign(new Error("standard input is a directory"), {
        code: "EISDIR",
      });
    }
    for await (const chunk of process.stdin) {
      total += (chunk as Uint8Array).length;
      await file.write(chunk as Uint8Array);
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

/** Runs `argv` with `input` on its standard input; resolves to its standard output. */
function runCommand(
  argv: string[],
  input: Uint8Array,
  target: string,
): Promise<Uint8Array> {
  return new Promise((resolveOutput, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      stdio: ["pipe", "pipe", "inherit"],
    });
    const chunks: Uint8Array[] = [];
    child.stdout.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    child.stdin.on("error", () => {}); // CMD need not read all of its input
    child.stdin.end(input);
    child.on("error", (error) => {
      reject(
        new CommandFailed(
          `Cannot run "${argv[0]}": ${error.message} (${codeOf(error)})`,
          127,
        ),
      );
    });
    child.on("close", (code, signal) => {
      if (code === 0) return resolveOutput(Buffer.concat(chunks));
      const status = code ??
        128 + (os.constants.signals[signal as NodeJS.Signals] ?? 0);
      reject(
        new CommandFailed(
          `"${argv.join(" ")}" ${
            code === null ? `was ended by ${signal}` : `exited with ${code}`
          }: "${target}" is unchanged`,
          status,
        ),
      );
    });
  });
}

/** --update: CMD's output replaces FILE, under FILE's lock, if CMD succeeds. */
async function runUpdate(command: Command, argv: string[]): Promise<void> {
  const target = resolve(command.file);
  await updateFileAtomic(target, async (current) => {
    const output = await runCommand(argv, current ?? new Uint8Array(), target);
    if (
      output.length === 0 && !command.allowEmpty && (current?.length ?? 0) > 0
    ) {
      throw new Failure(
        `Refusing to replace "${target}" (${current?.length} bytes) with the empty output of "${
          argv[0]
        }": pass --allow-empty to allow it`,
      );
    }
    return output;
  }, command.options);
}

/** The signals that end the command while it soaks (Windows has only SIGINT). */
const ENDING_SIGNALS: NodeJS.Signals[] = process.platform === "win32"
  ? ["SIGINT"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

/** How the command reacts to ending signals while it soaks. */
interface SignalGuard {
  /** Whether an ending signal came: the command then only waits to die of it. */
  readonly signalled: boolean;
  /** The file to discard on a signal, once it is open (a signal before waits for it). */
  adopt(file: AtomicFile | null): void;
  /** Gives the signals back their default action. */
  stop(): void;
}

/**
 * Until `stop()`, a signal in {@linkcode ENDING_SIGNALS} discards the
 * adopted file and then ends the process by that same signal (its default
 * action, once the handlers are gone). The library never listens to
 * signals; the command may, being the program. Installed before the file
 * is opened, so that no signal finds a temporary file unguarded.
 */
function discardOnSignals(): SignalGuard {
  const handlers = new Map<NodeJS.Signals, () => void>();
  let received: NodeJS.Signals | null = null;
  let adopted: { file: AtomicFile | null } | null = null;
  const die = (file: AtomicFile | null, signal: NodeJS.Signals) =>
    void (file?.abort() ?? Promise.resolve()).finally(() =>
      process.kill(process.pid, signal)
    );
  const guard: SignalGuard = {
    get signalled() {
      return received !== null;
    },
    adopt: (file) => {
      adopted = { file };
      if (received !== null) die(file, received);
    },
    stop: () => {
      for (const [signal, handler] of handlers) {
        process.removeListener(signal, handler);
      }
    },
  };
  for (const signal of ENDING_SIGNALS) {
    const handler = () => {
      received = signal;
      guard.stop();
      if (adopted !== null) die(adopted.file, signal);
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
  return guard;
}

/** Never settles: the process is about to die of a signal. */
const dying = () => new Promise<never>(() => {});

async function run(command: Command): Promise<void> {
  if (command.update !== null) return await runUpdate(command, command.update);
  const { options, append, allowEmpty } = command;
  // The temporary file exists from here on; it is removed on SIGINT,
  // SIGTERM and SIGHUP (the guard), on any failure, and at exit.
  const guard = discardOnSignals();
  let file: AtomicFile;
  try {
    file = await openAtomic(command.file, options);
  } catch (error) {
    guard.adopt(null);
    if (guard.signalled) return await dying();
    throw error;
  }
  guard.adopt(file);
  // As spelled, not normalized: the old content is read from the file the
  // kernel finds (`alias/..` goes through the link), the one replaced.
  const target = file.path;
  try {
    if (append) await copyOld(target, file);
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
  // Ctrl-C in a pipeline also ends the input: give a signal that came with
  // the end of input one turn of the event loop to be handled first.
  await new Promise((resolve) => setTimeout(resolve, 0));
  if (guard.signalled) return await dying();
  guard.stop();
  await file.commit();
}

function fail(message: string, status: number): never {
  process.stderr.write(`atomic-write: ${message}\n`);
  process.exit(status);
}

async function main(args: string[]): Promise<void> {
  let command: Command | null;
  try {
    command = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    fail(`${error.message}\nTry "atomic-write --help".`, 2);
  }
  if (command === null) process.exit(0);
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
          error.operation === "create temporary file"
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
    // with the runtime's own words, and FILE untouched.
    const { name, message } = error instanceof Error
      ? error
      : { name: "Error", message: String(error) };
    const code = errorCode(error);
    const suffix = code === undefined ? "" : ` (${code})`;
    fail(
      `Cannot replace "${resolve(command.file)}": ${name}: ${message}${suffix}`,
      1,
    );
  }
  process.exit(0);
}

// Only as a program: importing this module (`deno test --doc`, a bundler)
// must not read standard input or exit.
if (import.meta.main) await main(process.argv.slice(2));
