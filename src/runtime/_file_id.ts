/**
 * A file's identity, `EntryInfo.id`: its device and inode numbers in
 * decimal, `dev:ino`, the same text on every runtime for the same file.
 * Both are 64-bit numbers, and a JavaScript number holds integers exactly
 * only up to 2^53: inode numbers above that (an overlay mounted with
 * `xino=on`, whose lower layer's files get 2^63 + their own number; NFS's
 * 64-bit file ids; FUSE file systems that hash paths) round to one number
 * for many files, so that two files would pass for one. So ids are built
 * from exact numbers only (`bigint` stats on Node and Bun; on Deno, whose
 * `stat` gives numbers, see `_statx_deno.ts`), and a number that may have
 * been rounded makes an id that equals no other ({@linkcode unknownId}):
 * every check of "the same file" then fails closed.
 *
 * @module
 */

/** Inode and device numbers from `fs.Stats` with `{ bigint: true }`: Node and Bun give them signed (a `BigInt64Array`). */
const unsigned = (n: bigint): bigint => n < 0n ? BigInt.asUintN(64, n) : n;

/**
 * The id of the file with device `dev` and inode `ino`, given exactly.
 */
export function exactId(dev: bigint, ino: bigint): string {
  return `${unsigned(dev)}:${unsigned(ino)}`;
}

/**
 * Whether `n`, from a `bigint` stat, may be a JavaScript number made a
 * `bigint` (Deno's `node:fs` makes its `bigint` stats so): above 2^53, and
 * a number can hold it. The system's own number is one too now and then
 * (about one in 2^11 of those above 2^63), and cannot be told from it.
 */
export function mayBeRounded(n: bigint): boolean {
  const value = unsigned(n);
  return value > MAX_SAFE && BigInt(Number(value)) === value;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The id of the file with device `dev` and inode `ino`, from a `bigint`
 * stat of a call that every runtime shares (`node:fs`'s): exact, unless a
 * number may be rounded (`mayBeRounded`), where it equals no other.
 */
export function idOfBigints(dev: bigint, ino: bigint): string {
  return mayBeRounded(dev) || mayBeRounded(ino)
    ? unknownId(Number(dev), Number(ino))
    : exactId(dev, ino);
}

/** Whether `n`, a device or inode number as a JavaScript number, is surely the system's own (no rounding above 2^53). */
export function isExact(n: number): boolean {
  return n <= Number.MAX_SAFE_INTEGER;
}

/** How many ids {@linkcode unknownId} has made, which makes each one new. */
let unknowns = 0;

/**
 * An id for a file whose device or inode number the runtime gave rounded
 * (`dev`, `ino`, as it gave them): one that equals no other id, not even
 * the next one made for the same file, as nothing can tell whether two
 * such files are one. Its device part (before the `:`) is the device's
 * where that is exact.
 */
export function unknownId(dev: number, ino: number): string {
  const unknown = `~${++unknowns}`;
  return isExact(dev) ? `${dev}:${ino}${unknown}` : `${unknown}:${unknown}`;
}

/** Whether `id` is one that {@linkcode unknownId} made. */
export function isUnknownId(id: string): boolean {
  return id.includes("~");
}

/**
 * The id of the file with device `dev` and inode `ino` as a runtime's
 * numbers gave them: exact where both are, else {@linkcode unknownId}'s.
 */
export function idOfNumbers(dev: number, ino: number): string {
  return isExact(dev) && isExact(ino) ? `${dev}:${ino}` : unknownId(dev, ino);
}
