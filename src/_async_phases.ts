/**
 * The asynchronous commit: seal, wait for the write's turn (every earlier
 * write to the file has renamed), publish (with the close, and a look at
 * what the earlier writes left, after the wait where there was one). The
 * wait sits between two runs of steps, so the steps themselves never wait
 * for anything but an operation.
 */
import type { AsyncFsOps } from "./runtime/types.ts";
import { basename, dirname } from "node:path";
import { request, settle, type Steps } from "./_steps.ts";
import {
  canReopen,
  closeTemp,
  discard,
  matchAgain,
  matchAgainClosed,
  orDiscard,
  prepare,
  publish,
  type Replacement,
  seal,
  sealToWait,
  syncTemp,
} from "./_replace.ts";
import { inDirectory } from "./_replacement.ts";
import { runAsync, untilAborted } from "./_run.ts";
import { shared } from "./_shared_state.ts";

/** Runs `wait`; if it fails (or the signal aborts), removes the temporary file and rethrows. */
async function orDiscardAsync(
  s: Replacement,
  ops: AsyncFsOps,
  wait: Promise<unknown>,
): Promise<void> {
  try {
    await untilAborted(wait.then(() => {}), s.options.signal);
  } catch (error) {
    await runAsync(discard(s), ops);
    throw error;
  }
}

/** Which directory `dir` is (device and inode); `null` if it cannot be told. */
function* directoryId(dir: string): Steps<string | null> {
  const found = yield* settle(request("stat", dir));
  return found.ok && found.value !== null ? found.value.id : null;
}

/**
 * `name` with its ASCII letters' case turned over: every case-insensitive
 * file system folds those, one for one (`ß` would become `SS`, which exFAT
 * does not match, and `ⱥ` the shorter `Ⱥ`), and a temporary file's name
 * always has some (`atomic-tmp`).
 */
function caseTurned(name: string): string {
  return name.replace(
    /[A-Za-z]/g,
    (c) => c < "a" ? c.toLowerCase() : c.toUpperCase(),
  );
}

/**
 * Whether the directory of the temporary file at `path` takes its name with
 * the letters' case turned over for it (a case-insensitive file system):
 * whether that name finds anything, as nothing else bears a temporary
 * file's random name. (Not by inode: exFAT through FUSE numbers each name
 * apart.) `true` where that cannot be told.
 */
function* ignoresCase(path: string): Steps<boolean> {
  const turned = inDirectory(dirname(path), caseTurned(basename(path)));
  if (turned === path) return true;
  const other = yield* settle(request("lstat", turned));
  return !other.ok || other.value !== null;
}

/** Makes the temporary file, then awaits the `tempCreated` hook if there is one. */
export async function prepareAsync(
  s: Replacement,
  ops: AsyncFsOps,
): Promise<void> {
  await runAsync(prepare(s), ops);
  s.ticket?.found(s.final);
  const hook = s.options.tempCreated;
  if (hook === undefined) return;
  await orDiscardAsync(s, ops, (async () => await hook(s.temp as string))());
  s.options.signal?.throwIfAborted();
}

/**
 * How many writes of this thread may wait for their turn with their
 * temporary file open, to match it again to what the writes before them
 * left (`matchAgain`). Each holds a descriptor while it waits: a burst of
 * writes queued behind a slow one (a stream) must not exhaust the table
 * (a limit of 64 failed 109 of 150 saves with `EMFILE` without a cap).
 * Beyond it, a write closes its file before it waits, and opens it again
 * after only if what the earlier writes left differs from what it matched.
 */
const OPEN_WHILE_WAITING = 8;
/** The count, shared by every copy of the library in the thread (`_shared_state.ts`). */
const waitingOpen = shared("openWhileWaiting", () => ({ count: 0 }));

/**
 * Seals the temporary file, waits for the write's turn, then puts the file
 * in place. Where earlier writes to the file come first, it is closed only
 * after they have renamed, and matched again to the file they left
 * (`matchAgain`): the file stays open meanwhile (for
 * {@linkcode OPEN_WHILE_WAITING} writes at a time).
 */
export async function commitInTurn(
  s: Replacement,
  ops: AsyncFsOps,
): Promise<void> {
  const ticket = s.ticket;
  ticket?.found(s.final);
  const turn = ticket?.mayRename({
    directoryId: (dir) => runAsync(directoryId(dir), ops),
    ignoresCase: () => runAsync(ignoresCase(s.temp as string), ops),
  }) ?? null;
  // Counted from here, before any await: writes called in one tick all
  // get here before any of them has synced.
  // A file the writer could not open again stays open past the cap.
  const keepOpen = turn !== null &&
    (waitingOpen.count < OPEN_WHILE_WAITING || !canReopen(s));
  if (!keepOpen) {
    await runAsync(orDiscard(s, turn === null ? seal(s) : sealToWait(s)), ops);
    // Past the cap, its file is closed while it waits; its directory stays
    // held (one descriptor for all the writes to it: `_held_directories.ts`),
    // so that its rename, or its removal, still acts where it was made. It
    // is opened again if what the earlier writes left must be matched.
    if (turn !== null) {
      await orDiscardAsync(s, ops, turn);
      await runAsync(orDiscard(s, matchAgainClosed(s)), ops);
    }
  } else {
    waitingOpen.count++;
    try {
      await runAsync(orDiscard(s, syncTemp(s)), ops);
      await orDiscardAsync(s, ops, turn);
      await runAsync(orDiscard(s, matchAgain(s)), ops);
      await runAsync(orDiscard(s, closeTemp(s)), ops);
    } finally {
      waitingOpen.count--;
    }
  }
  await runAsync(orDiscard(s, publish(s)), ops);
}
