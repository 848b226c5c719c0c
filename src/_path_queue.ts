/**
 * Call order for writes to one file within this process. Each write takes a
 * ticket when it is called; writes prepare and fill their temporary files
 * concurrently, but rename in ticket order, so the file ends with the last
 * call's data.
 *
 * Two queues order them. Writes to one path as spelled (`a/./b` and `a/b`
 * alike) also settle in ticket order: each waits for the one before it, which
 * costs nothing to find. Writes that reach one file by different paths (a
 * link, a linked directory, `..` after one) can only be told apart once each
 * has found its file (`found`, after its first `lstat`): before renaming, a
 * write looks at the writes called before it on other paths that have not
 * renamed yet, and waits for those that replace the same file. Waits only
 * ever go to earlier tickets, so they cannot form a cycle.
 */
import { basename, dirname, resolve } from "node:path";
import { foldCase } from "./_fold_case.ts";
import { shared } from "./_shared_state.ts";
import type { Deferred } from "./_deferred.ts";

/** What a write asks of the file system to tell whether an earlier write replaces its file. */
export interface Looks {
  /** Which directory `dir` is (device and inode), or `null` if that cannot be told. */
  directoryId(dir: string): Promise<string | null>;
  /**
   * Whether this write's directory takes names that differ only in case for
   * one (a case-insensitive file system), told from its own temporary file;
   * `true` where that cannot be told.
   */
  ignoresCase(): Promise<boolean>;
}

/** One write's place in the queues of its file. */
export interface Ticket {
  /**
   * Resolves when every earlier write to the same file has renamed (or will
   * not); `null` if there is none to wait for. `looks` tells which directory
   * a path is in, and whether names differing in case are one file there,
   * for writes to the same name by other paths.
   */
  mayRename(looks: Looks): Promise<void> | null;
  /** Resolves when every earlier write to the path has settled; `null` if none is pending. */
  readonly maySettle: Promise<void> | null;
  /**
   * Tells later writes which file this one replaces (links followed), or
   * `null` if it will not replace any. The first call counts.
   */
  found(final: string | null): void;
  /** Resolves with what {@linkcode found} was told, once it has been. */
  readonly finds: Promise<string | null>;
  /** Tells later writes that this one has renamed or will not. Idempotent. */
  renamed(): void;
  /**
   * Gives up the ticket's place (a batched write overtaken by newer data):
   * it will not rename, and passes its turn on as soon as the writes to the
   * path before it have renamed.
   */
  pass(): void;
  /** Tells later writes that this one has settled. Idempotent. */
  settled(): void;
  /**
   * Whether no write of the thread took a ticket after this one: a new
   * ticket for the path would take the same place (a batched write's newer
   * data keeps it, at no cost).
   */
  readonly newest: boolean;
}

/** A write that has not renamed yet, as later writes on other paths see it. */
export interface Pending {
  /** The path as called, made absolute. */
  readonly path: string;
  /** The file it replaces, once found; `null` if it will not rename. */
  final: string | null | undefined;
  readonly found: Deferred<void>;
  readonly renamed: Deferred<void>;
  /** `final`'s name, folded. */
  name: string;
  /** Its place in call order among the thread's writes. */
  readonly order: number;
  /** Resolves once every write called before this one has found its file. */
  readonly earlierFound: Promise<void>;
  /** Which directory `final` is in, asked for at most once. */
  directory?: Promise<string | null>;
  /** Whether `final`'s directory ignores case, asked for at most once. */
  ignoresCase?: Promise<boolean>;
}

/** The last write of a path as spelled, as the next write to it sees it. */
export interface Tail {
  renamed: Promise<void>;
  settled: Promise<void>;
}

/** The writes not renamed yet, as later writes to other paths look them up. */
export interface Writes {
  /** How many writes were called so far: the next one's `order`. */
  called: number;
  /** Those that have not found their file yet, in call order (a `Set` keeps insertion order). */
  readonly unfound: Set<Pending>;
  /** Those that found their file, by its folded name. */
  readonly byName: Map<string, Set<Pending>>;
  /** Resolves once every write called so far has found its file. */
  allFound: Promise<void>;
}

/**
 * The last ticket of each path as spelled, and the writes not renamed yet:
 * the thread's, whichever copy of the library took them
 * (`_shared_state.ts`).
 */
const tails = shared("tails", () => new Map<string, Tail>());
const writes = shared("writes", (): Writes => ({
  called: 0,
  unfound: new Set(),
  byName: new Map(),
  allFound: Promise.resolve(),
}));

/**
 * A file's name, folded so that names a case-insensitive file system takes
 * for one file compare equal (`_fold_case.ts`); whether the directory
 * ignores case is asked only of two such names that differ.
 */
function folded(file: string): string {
  return foldCase(basename(file));
}

/**
 * The writes called before `mine`, not renamed yet, that may replace the
 * same file by another path: those that found a file of the same name
 * (folded). Only those cost a promise: many writes to different files cost
 * none, and a write never looks at the writes to other names.
 */
function sameNamed(mine: Pending): Pending[] {
  const named = writes.byName.get(mine.name);
  if (named === undefined) return [];
  return [...named].filter((p) => p.order < mine.order && p.path !== mine.path);
}

/** Whether a write called before `mine` has not found its file yet. */
function earlierUnfound(mine: Pending): boolean {
  const oldest = writes.unfound.values().next();
  return !oldest.done && oldest.value.order < mine.order;
}

/** Waits for every earlier write that replaces `mine`'s file (see {@linkcode afterSameFile}). */
async function afterSameFiles(mine: Pending, looks: Looks): Promise<void> {
  await mine.earlierFound;
  await Promise.all(sameNamed(mine).map((p) => afterSameFile(p, mine, looks)));
}

/**
 * Waits for `earlier` to rename if it replaces the file `mine` replaces:
 * the same name (folded) in the same directory (by device and inode), and,
 * for names that differ until folded, a directory that ignores case. What
 * cannot be told counts as the same file. A needless wait costs time, and
 * more where one write's data waits for the other's end (it would never
 * come: `Log.txt` and `log.txt` are two files on most Linux file systems);
 * a missing one costs the order.
 */
async function afterSameFile(
  earlier: Pending,
  mine: Pending,
  looks: Looks,
): Promise<void> {
  await earlier.found.promise;
  if (earlier.final === null || earlier.name !== mine.name) return;
  const theirs = earlier.final as string;
  const ours = mine.final as string;
  if (theirs !== ours) {
    earlier.directory ??= looks.directoryId(dirname(theirs));
    mine.directory ??= looks.directoryId(dirname(ours));
    const [a, b] = await Promise.all([earlier.directory, mine.directory]);
    if (a !== null && b !== null && a !== b) return;
    // Names apart only once folded are one file only where the directory
    // ignores case (and then, as the fold, Unicode forms too: Apple's).
    if (basename(ours) !== basename(theirs)) {
      mine.ignoresCase ??= looks.ignoresCase();
      if (!await mine.ignoresCase) return;
    }
  }
  await earlier.renamed.promise;
}

/** Takes the next ticket for `spelled`. */
export function takeTicket(spelled: string): Ticket {
  const path = resolve(spelled);
  const previous = tails.get(path);
  const renamed = Promise.withResolvers<void>();
  const settled = Promise.withResolvers<void>();
  const tail: Tail = { renamed: renamed.promise, settled: settled.promise };
  tails.set(path, tail);
  const found = Promise.withResolvers<void>();
  const mine: Pending = {
    path,
    final: undefined,
    name: "",
    order: writes.called++,
    earlierFound: writes.allFound,
    found,
    renamed,
  };
  // One promise per write, whatever the number of writes in flight.
  writes.allFound = writes.allFound.then(() => found.promise);
  writes.unfound.add(mine);
  const ticket: Ticket = {
    mayRename: (looks) => {
      const waits: Promise<void>[] = previous ? [previous.renamed] : [];
      if (mine.final !== null && earlierUnfound(mine)) {
        // Which file an earlier write replaces is not known yet.
        waits.push(afterSameFiles(mine, looks));
      } else if (mine.final !== null) {
        for (const p of sameNamed(mine)) {
          waits.push(afterSameFile(p, mine, looks));
        }
      }
      if (waits.length <= 1) return waits[0] ?? null;
      return Promise.all(waits).then(() => {});
    },
    maySettle: previous?.settled ?? null,
    found: (final) => {
      if (mine.final !== undefined) return;
      mine.final = final;
      writes.unfound.delete(mine);
      if (final !== null) {
        mine.name = folded(final);
        const named = writes.byName.get(mine.name);
        if (named === undefined) writes.byName.set(mine.name, new Set([mine]));
        else named.add(mine);
      }
      mine.found.resolve();
    },
    renamed: () => {
      if (mine.final === undefined) mine.final = null;
      mine.found.resolve();
      // A write that fails (or is aborted) before its turn lets the next
      // one rename only once the writes before it have: else the last call
      // could rename before an earlier one, whose data would then stay.
      renamed.resolve(previous?.renamed);
      writes.unfound.delete(mine);
      const named = writes.byName.get(mine.name);
      named?.delete(mine);
      if (named?.size === 0) writes.byName.delete(mine.name);
    },
    pass: () => {
      ticket.found(null);
      void settleInTurn(ticket, previous?.renamed ?? Promise.resolve());
    },
    settled: () => {
      settled.resolve();
      if (tails.get(path) === tail) tails.delete(path);
    },
    get finds() {
      return mine.found.promise.then(() => mine.final ?? null);
    },
    get newest() {
      return mine.order === writes.called - 1;
    },
  };
  return ticket;
}

/**
 * Settles `work` in `ticket`'s turn: after every earlier write to the path
 * has settled; at once where it failed because `signal` aborted.
 */
export async function settleInTurn<T>(
  ticket: Ticket,
  work: Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    outcome = { ok: true, value: await work };
  } catch (error) {
    outcome = { ok: false, error };
  }
  ticket.renamed();
  const earlier = ticket.maySettle;
  if (earlier !== null && !outcome.ok && signal?.aborted) {
    // Aborted: it rejects now, not after an earlier write that may wait for
    // a stream that never ends; the writes after it still settle after the
    // writes before it.
    void earlier.then(() => ticket.settled());
    throw outcome.error;
  }
  if (earlier !== null) await earlier;
  ticket.settled();
  if (outcome.ok) return outcome.value;
  throw outcome.error;
}
