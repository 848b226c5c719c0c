/**
 * The directories this thread's writes hold open (see `named` in
 * `_replacement.ts`), shared by the writes in flight to one directory: a
 * burst of writes to one file holds one descriptor for their directory,
 * not one each. A directory is closed when its last write is done with it.
 */
import type { DirectoryHandle } from "./runtime/types.ts";

/** The directories held open, by the path they were opened by, and how many writes use each. */
export class HeldDirectories {
  readonly #byPath = new Map<string, DirectoryHandle>();
  readonly #paths = new Map<DirectoryHandle, string>();
  readonly #users = new Map<DirectoryHandle, number>();

  /**
   * The directory that writes in flight opened by `path`, if any, now used
   * by one write more. It is the directory `path` led to when they opened
   * it: a sharer checks that it still does.
   */
  share(path: string): DirectoryHandle | undefined {
    const held = this.#byPath.get(path);
    if (held !== undefined) this.#users.set(held, this.#usersOf(held) + 1);
    return held;
  }

  /**
   * Records `held`, just opened by `path`, for one write more (writes that
   * asked at once were given one open: see {@linkcode sharedOpens}); shared
   * from now on, unless another is.
   */
  opened(path: string, held: DirectoryHandle): void {
    this.#users.set(held, this.#usersOf(held) + 1);
    this.#paths.set(held, path);
    if (!this.#byPath.has(path)) this.#byPath.set(path, held);
  }

  /**
   * One user more for `held`, opened for something that names its files
   * through it for longer than a write (a lock, `_lock_directory.ts`) and
   * is not shared by path: the writes it lends `held` to use it too, and it
   * is closed when the last of them is done (see {@linkcode release}).
   */
  keep(held: DirectoryHandle): void {
    this.#users.set(held, this.#usersOf(held) + 1);
  }

  /** Shares `held` no more: its path leads elsewhere now. Its writes still use it. */
  forget(held: DirectoryHandle): void {
    const path = this.#paths.get(held);
    if (path !== undefined && this.#byPath.get(path) === held) {
      this.#byPath.delete(path);
    }
  }

  /** One write is done with `held`; whether that was its last, and it is to be closed. */
  release(held: DirectoryHandle): boolean {
    const users = this.#usersOf(held) - 1;
    if (users > 0) {
      this.#users.set(held, users);
      return false;
    }
    this.forget(held);
    this.#users.delete(held);
    this.#paths.delete(held);
    return true;
  }

  #usersOf(held: DirectoryHandle): number {
    return this.#users.get(held) ?? 0;
  }
}

/**
 * Wraps an asynchronous `openDirectory` so that calls for one path made
 * while its open is on the way get that open's directory: a burst of
 * writes to one file, called in one tick, opens its directory once.
 */
export function sharedOpens<D>(
  open: (path: string) => Promise<D>,
): (path: string) => Promise<D> {
  const opening = new Map<string, Promise<D>>();
  return (path) => {
    let opened = opening.get(path);
    if (opened === undefined) {
      opened = open(path);
      opening.set(path, opened);
      const done = () => void opening.delete(path);
      opened.then(done, done);
    }
    return opened;
  };
}
