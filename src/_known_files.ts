/**
 * What the fast path of `prepare` (`_replace.ts`) guesses from: the paths
 * where this process last found a regular file to replace, itself and not
 * behind a link.
 */

/** How many paths are kept: a process writing more files keeps the latest. */
const LIMIT = 4096;

/** The paths last found to be regular files, oldest first, at most {@linkcode LIMIT}. */
export class KnownFiles {
  readonly #paths = new Set<string>();

  /** Whether `path` was a regular file the last time it was replaced. */
  has(path: string): boolean {
    return this.#paths.has(path);
  }

  /** Records what `path` was found to be: a regular file (`true`) or anything else. */
  note(path: string, isFile: boolean): void {
    this.#paths.delete(path);
    if (!isFile) return;
    this.#paths.add(path);
    if (this.#paths.size > LIMIT) {
      this.#paths.delete(this.#paths.values().next().value as string);
    }
  }
}
