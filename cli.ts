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
 * ended. Ctrl-C or SIGTERM before that leaves FILE untouched and removes the
 * temporary file. Empty input never empties a non-empty FILE unless
 * `--allow-empty` is given: a failed upstream command usually prints nothing,
 * and its exit status cannot be seen from the other end of a pipe.
 *
 * Exit status: 0 written; 1 not written (a file-system error, named with its
 * path and code, or empty input refused); 2 bad usage.
 *
 * @module
 */
import fs from "node:fs";
import { resolve } from "node:path";
import process from "node:process";
import { AtomicWriteError, openAtomic } from "./mod.ts";
import type { AtomicFile, AtomicOptions } from "./mod.ts";
import { errorCode } from "./src/_error_code.ts";

/** The package version; a test checks that it equals `deno.json`'s. */
const VERSION = "0.1.0";

const USAGE = `Usage: atomic-write [options] FILE

Reads all of standard input, then replaces FILE with it atomically and
durably: readers, crashes and power cuts see the old content or the new one,
never a mix. Nothing changes until standard input ends; Ctrl-C before that
leaves FILE as it was.

Options:
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

Exit status: 0 written; 1 not written (file-system error or empty input
refused; FILE is unchanged); 2 bad usage.
`;

/** What the command line asks for. */
interface Command {
  file: string;
  options: AtomicOptions;
  append: boolean;
  allowEmpty: boolean;
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
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      files.push(...args.slice(i + 1));
      break;
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
  return { file: files[0], options, append, allowEmpty };
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

async function run(command: Command): Promise<void> {
  const { options, append, allowEmpty } = command;
  const target = resolve(command.file);
  // The temporary file exists from here on; the library removes it on
  // SIGINT, SIGTERM and SIGHUP, and on any failure below.
  const file = await openAtomic(command.file, options);
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
    await file.abort();
    throw error;
  }
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
    if (error instanceof AtomicWriteError) {
      const note = error.committed
        ? " (the new content is in place, but may not survive a power cut)"
        : "";
      const hint = error.code === "ENOENT" && !command.options.mkdir &&
          error.operation === "create temporary file"
        ? "\nTry --mkdir to create missing directories."
        : "";
      fail(error.message + note + hint, 1);
    }
    if (error instanceof Failure) fail(error.message, 1);
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
