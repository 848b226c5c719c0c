/**
 * The runtime adapter in use, and what the library keeps per adapter: the
 * asynchronous operations with group-committed directory fsyncs, and the set
 * of temporary files in flight (removed when the thread exits: see
 * `runtime/_exit_hooks.ts`). For the runtime's own adapter, the files in
 * flight, the locks held and the known files are the thread's, shared by
 * every copy of the library loaded in it (`_shared_state.ts`): one exit hook
 * removes them all, once.
 */
import type { AsyncFsOps, RuntimeAdapter } from "./runtime/types.ts";
import { detectAdapter } from "./runtime/detect.ts";
import { groupCommit } from "./_group_commit.ts";
import type { Host, Replacement } from "./_replace.ts";
import type { ResolvedOptions } from "./_validate.ts";
import { inDirectory, writerOf } from "./_replacement.ts";
import { KnownFiles } from "./_known_files.ts";
import { HeldDirectories, sharedOpens } from "./_held_directories.ts";
import { isQueueName, isTicketName, lockOf } from "./_lock_name.ts";
import { shared } from "./_shared_state.ts";
import { baseOfTempName, CLOSET_SUFFIX, tempNameOwner } from "./_temp_name.ts";
import { basename, dirname } from "node:path";

/**
 * The files of this thread that exist now (temporary files, atomic writes'
 * and `makeTempFile`'s, and lock files), removed by name when the thread
 * exits, but for the names of held locks, which are released then.
 */
export interface InFlightFiles extends Set<string> {
  /**
   * Adds `names`, the names of a lock this thread holds: at exit, `release`
   * runs once in place of their removal by name. The lock's own name may be
   * another process's lock by then (this holder stalled past its lease, and
   * was taken over): only `release` can tell. Removing one of `names` from
   * the set takes it from `release` too.
   */
  releaseAtExit(names: readonly string[], release: () => void): void;
  /**
   * Whether `name` is one of a lock's names given to `releaseAtExit`: the
   * names of a lock this thread has seen itself take, held or being
   * released.
   */
  releasedAtExit(name: string): boolean;
}

/** An adapter with the state the library keeps for it. */
export interface Context {
  readonly adapter: RuntimeAdapter;
  /** The adapter's asynchronous operations, with directory fsyncs shared. */
  readonly async: AsyncFsOps;
  /** Temporary files and lock files of this thread that exist now. */
  readonly inFlight: InFlightFiles;
  /**
   * The lock files this thread holds, by identity (device and inode): the
   * same file is one lock whichever path names it (a link, a bind mount).
   */
  readonly heldLocks: Set<string>;
  /** Where this process last found regular files (see `_known_files.ts`). */
  readonly knownFiles: KnownFiles;
  /** The directories this thread's writes hold open (`_held_directories.ts`). */
  readonly heldDirectories: HeldDirectories;
}

const contexts = new WeakMap<RuntimeAdapter, Context>();
let chosen: RuntimeAdapter | null = null;

/**
 * The paths of temporary files in flight. While it holds any, and only then,
 * an exit hook removes them: a program that never has a temporary file in
 * flight (one that only sweeps, say) never gets a listener.
 */
class InFlight extends Set<string> implements InFlightFiles {
  #unhook: (() => void) | null = null;
  /** What releases each held lock's name at exit (see `releaseAtExit`). */
  readonly #releases = new Map<string, () => void>();
  readonly #onExit: RuntimeAdapter["onExit"];
  readonly #remove: (path: string) => void;
  readonly #removeDir: (path: string) => void;
  readonly #lstat: RuntimeAdapter["sync"]["lstat"];

  constructor(adapter: RuntimeAdapter) {
    super();
    this.#onExit = adapter.onExit;
    this.#remove = adapter.sync.remove;
    this.#lstat = adapter.sync.lstat;
    this.#removeDir = adapter.sync.removeDir;
  }

  override add(path: string): this {
    super.add(path);
    this.#unhook ??= this.#onExit(() => this.#removeAll());
    return this;
  }

  releaseAtExit(names: readonly string[], release: () => void): void {
    for (const name of names) {
      this.add(name);
      this.#releases.set(name, release);
    }
  }

  releasedAtExit(name: string): boolean {
    return this.#releases.has(name);
  }

  override delete(path: string): boolean {
    this.#releases.delete(path);
    const deleted = super.delete(path);
    if (this.size === 0 && this.#unhook !== null) {
      this.#unhook();
      this.#unhook = null;
    }
    return deleted;
  }

  /**
   * Removes the lock that `path`, a lock holder's own file, was linked to by
   * a `link` this thread had not seen end (still in the runtime's thread
   * pool as the process exits): the lock's name is removed if it is that
   * very file, which only this thread links. By name, as `release()` does
   * within the lease: the file's time was set anew before the link if a
   * fifth of the lease had passed, so nobody may take the lock over yet.
   * Not for a holder's name that had to be cut (a target name near 255
   * bytes): its lock is not known. The lock's name is looked at first: the
   * holder's own name, still that file after, kept its inode alive all
   * along, so no other file had its number (see `isSameLock`). Where names
   * are numbered apart (sshfs) they never match, and the lock stays: its
   * holder, this exiting thread, is gone, so the next locker takes it over
   * at once.
   */
  #removeLinkedLock(path: string): void {
    const name = baseOfTempName(basename(path));
    if (name === null || lockOf(name) !== name) return;
    const lock = inDirectory(dirname(path), name);
    if (this.has(lock)) return; // held: released
    const found = this.#lstat(lock);
    const holder = found === null ? null : this.#lstat(path);
    if (holder !== null && found !== null && holder.id === found.id) {
      this.#remove(lock);
    }
  }

  /** Runs `release` once, for every name it releases: they leave the set first. */
  #release(release: () => void): void {
    for (const [name, of] of this.#releases) {
      if (of !== release) continue;
      this.#releases.delete(name);
      super.delete(name);
    }
    release();
  }

  #removeAll(): void {
    for (const path of this) {
      try {
        const release = this.#releases.get(path);
        if (release !== undefined) {
          this.#release(release);
          continue;
        }
        try {
          this.#removeLinkedLock(path);
        } catch { /* the lock stays: its holder is gone, it is taken over */ }
        this.#remove(path);
        // A lock waiter's ticket: its line goes too if it was the last one.
        const dir = dirname(path);
        if (isTicketName(basename(path)) && isQueueName(basename(dir))) {
          this.#removeDir(dir);
        }
        // A temporary file in its closet (`_closet.ts`): the closet goes too.
        if (tempNameOwner(basename(dir), CLOSET_SUFFIX) !== null) {
          this.#removeDir(dir);
        }
      } catch { /* exiting: nothing more to do */ }
    }
    super.clear();
    this.#releases.clear();
  }
}

/** What a context keeps of the thread's state. */
type ThreadState = Pick<Context, "inFlight" | "heldLocks" | "knownFiles">;

/** Fresh state, for an adapter a test injects. */
function ownState(adapter: RuntimeAdapter): ThreadState {
  return {
    inFlight: new InFlight(adapter),
    heldLocks: new Set(),
    knownFiles: new KnownFiles(),
  };
}

/**
 * The thread's state, made by the first copy of the library that asks for
 * it, with its adapter for the exit hook (the same runtime's).
 */
function sharedState(adapter: RuntimeAdapter): ThreadState {
  return {
    inFlight: shared("inFlight", () => new InFlight(adapter)),
    heldLocks: shared("heldLocks", () => new Set()),
    knownFiles: shared("knownFiles", () => new KnownFiles()),
  };
}

function create(adapter: RuntimeAdapter, state: ThreadState): Context {
  const async = {
    ...adapter.async,
    syncDir: groupCommit(adapter.async.syncDir),
    openDirectory: sharedOpens(adapter.async.openDirectory),
  };
  return { adapter, async, ...state, heldDirectories: new HeldDirectories() };
}

/** The context of the adapter in use. */
export function currentContext(): Context {
  const detected = detectAdapter();
  const adapter = chosen ?? detected;
  let context = contexts.get(adapter);
  if (context === undefined) {
    const state = adapter === detected
      ? sharedState(adapter)
      : ownState(adapter);
    context = create(adapter, state);
    contexts.set(adapter, context);
  }
  return context;
}

/**
 * Makes the library use `adapter` (tests pass a fault-injecting one), or the
 * detected runtime's again with `null`.
 */
export function useAdapter(adapter: RuntimeAdapter | null): void {
  chosen = adapter;
}

/** A fresh replacement of `target` in `context`. */
export function startReplacement(
  context: Context,
  target: string,
  options: ResolvedOptions,
): Replacement {
  const { adapter } = context;
  const host: Host = {
    ...writerOf(adapter),
    owner: adapter.writer(),
    overridesPermissions: () => adapter.overridesPermissions(),
    renameRetryCodes: adapter.renameRetryCodes,
  };
  return {
    target,
    final: target,
    temp: null,
    tempSince: 0,
    located: null,
    file: null,
    tempId: null,
    held: null,
    shared: false,
    pinned: null,
    directories: context.heldDirectories,
    createdMode: 0,
    pendingMode: null,
    matched: null,
    ownerLater: null,
    givenAway: null,
    closet: null,
    rematching: false,
    committed: false,
    options,
    host,
    inFlight: context.inFlight,
    knownFiles: context.knownFiles,
    ticket: null,
    guard: null,
    looked: null,
    placed: null,
  };
}
