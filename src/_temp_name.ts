/**
 * Names of temporary files, hidden, beside the target, never longer than 255
 * bytes (the limit of a file name on Linux, macOS and Windows file systems),
 * however long the target's name:
 *
 * - `.{name}.{pid}-{thread}-{start}-{host}-{random}.atomic-tmp` when the
 *   writer is known (see `runtime/_writer_identity.ts`: thread id, its start
 *   time in base 36, a hash of boot and PID namespace), so that a sweeper can
 *   prove the writer gone;
 * - `.{name}.{pid}-{random}.atomic-tmp` when it is not (no /proc, Deno
 *   without `--allow-all`): a sweeper then judges by age alone.
 */
import type { Writer, WriterState } from "./runtime/_writer_identity.ts";

/** The fixed ending of every temporary file this library creates. */
export const TEMP_SUFFIX = ".atomic-tmp";

/**
 * The fixed ending of a closet's name (`_closet.ts`): a directory named as
 * a temporary file would be, but for this ending, so that no directory that
 * merely looks like a temporary file is ever taken for one.
 */
export const CLOSET_SUFFIX = ".atomic-closet";

const MAX_NAME_BYTES = 255;
const RANDOM_BYTES = 6;
const pattern =
  /^\.(.*)\.(\d+)(?:-(\d+)-([0-9a-z]+)-([0-9a-f]{12}))?-([0-9a-f]{12})(\.atomic-tmp|\.atomic-closet)$/s;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const HEX = Array.from(
  { length: 256 },
  (_, i) => i.toString(16).padStart(2, "0"),
);

// Random bytes are drawn from the system in blocks: one getRandomValues call
// costs several microseconds on Node, as much as a small write's syscalls.
const pool = new Uint8Array(4096);
let used = pool.length;

/** Random lowercase hex, `2 * bytes` characters long (at most 4096 bytes). */
export function randomHex(bytes: number = RANDOM_BYTES): string {
  if (used + bytes > pool.length) {
    crypto.getRandomValues(pool);
    used = 0;
  }
  let hex = "";
  for (const end = used + bytes; used < end; used++) hex += HEX[pool[used]];
  return hex;
}

/** Cuts `text` to at most `limit` UTF-8 bytes without splitting a character. */
export function truncateUtf8(text: string, limit: number): string {
  if (text.length * 3 <= limit) return text; // a UTF-16 unit is at most 3 bytes
  const bytes = encoder.encode(text);
  if (bytes.length <= limit) return text;
  let end = limit;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end));
}

/** Who made a temporary file, as its name says: a known writer, or only a process id. */
export type TempOwner = Writer | { pid: number };

/** Whether the owner read from a name is a fully known writer. */
export function isKnownWriter(owner: TempOwner): owner is Writer {
  return "host" in owner;
}

/**
 * Whether the owner read from a temporary name still runs, as `writerState`
 * judges a known writer; an owner known only by its process id cannot be
 * judged ("unknown", never "gone").
 */
export function ownerState(
  owner: TempOwner,
  writerState: (writer: Writer) => WriterState,
): WriterState {
  return isKnownWriter(owner) ? writerState(owner) : "unknown";
}

/** The part of a temporary name that names its writer. */
function ownerTag(owner: TempOwner): string {
  return isKnownWriter(owner)
    ? `${owner.pid}-${owner.thread}-${owner.start.toString(36)}-${owner.host}`
    : `${owner.pid}`;
}

/** A fresh temporary file name for the target file name `base`, made by `owner` (with `suffix`, a closet's name). */
export function tempName(
  base: string,
  owner: TempOwner,
  suffix: typeof TEMP_SUFFIX | typeof CLOSET_SUFFIX = TEMP_SUFFIX,
): string {
  const tail = `.${ownerTag(owner)}-${randomHex()}${suffix}`;
  return `.${truncateUtf8(base, MAX_NAME_BYTES - 1 - tail.length)}${tail}`;
}

/**
 * Whether `name` is a temporary name {@linkcode tempName} made for the file
 * name `base` (whose beginning it keeps when `base` had to be cut).
 */
export function isTempNameFor(name: string, base: string): boolean {
  const match = parse(name, TEMP_SUFFIX);
  return match !== null && match[1] !== "" && base.startsWith(match[1]);
}

/**
 * The file names among `bases` (a set) that `name`, a temporary name, was
 * made for ({@linkcode isTempNameFor}): the one it names whole, looked up at
 * once, or, for a name that had to be cut to fit, those that begin with
 * what it kept. A sweep asks this of every temporary file in a directory,
 * against every lock file there: a look per pair would be quadratic.
 */
export function basesOfTempName(
  name: string,
  bases: ReadonlySet<string>,
): string[] {
  const match = parse(name, TEMP_SUFFIX);
  if (match === null || match[1] === "") return [];
  const kept = match[1];
  if (!isCut(name)) return bases.has(kept) ? [kept] : [];
  return [...bases].filter((base) => base.startsWith(kept));
}

/**
 * The file name that `name`, a temporary name, was made for, where it
 * keeps that name whole; `null` where it had to be cut to fit, or is no
 * temporary name of ours.
 */
export function baseOfTempName(name: string): string | null {
  const match = parse(name, TEMP_SUFFIX);
  if (match === null || match[1] === "" || isCut(name)) return null;
  return match[1];
}

/** Whether the temporary name `name` is long enough that its base may have been cut. */
function isCut(name: string): boolean {
  return encoder.encode(name).length > MAX_NAME_BYTES - 4;
}

/** `name` parsed as a name {@linkcode tempName} made with `suffix`, or `null`. */
function parse(name: string, suffix: string): RegExpExecArray | null {
  const match = pattern.exec(name);
  return match !== null && match[7] === suffix ? match : null;
}

/** The writer named by a name made by {@linkcode tempName}, or `null` if the name is not one of ours. */
export function tempNameOwner(
  name: string,
  suffix: typeof TEMP_SUFFIX | typeof CLOSET_SUFFIX = TEMP_SUFFIX,
): TempOwner | null {
  const match = parse(name, suffix);
  if (!match) return null;
  const pid = Number(match[2]);
  if (match[3] === undefined) return { pid };
  return {
    pid,
    thread: Number(match[3]),
    start: parseInt(match[4], 36),
    host: match[5],
  };
}
