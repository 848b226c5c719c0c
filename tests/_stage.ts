/**
 * A world-readable copy of what a child running as `nobody` needs: the
 * library, the test children and the runtime executables. The checkout may
 * live in a private directory (a clone under `/root` is 0700), where nobody
 * can read `tests/_child.ts` or even run `node_modules/.bin/deno`; the tests
 * that drop privileges run the staged copies instead.
 */
import fs from "node:fs";
import path from "node:path";
import { root } from "./_fixtures.ts";

/** The staged copies. */
export interface Stage {
  /** The staging directory. */
  readonly dir: string;
  /**
   * Where the copy of `file` is: a file of the checkout, or one of the
   * executables given to {@linkcode stageForNobody}.
   */
  path(file: string): string;
}

/** What a child needs from the checkout: the library and the tests' own files. */
const CHECKOUT = ["mod.ts", "cli.ts", "src", "tests"];

/** Copies `from` to `to`, world-readable (directories 0755, files 0644). */
function copyReadable(from: string, to: string): void {
  fs.cpSync(from, to, {
    recursive: true,
    filter: (source) => !source.includes(`${path.sep}node_modules`),
  });
  const open = (file: string): void => {
    const stat = fs.statSync(file);
    fs.chmodSync(file, stat.isDirectory() ? 0o755 : 0o644);
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(file)) open(path.join(file, name));
    }
  };
  open(to);
}

/** Makes `dir` with mode 0755, whatever the umask. */
function mkdirReadable(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o755);
}

/** A link to the executable `file` (or a copy across file systems), mode 0755. */
function stageExecutable(file: string, to: string): void {
  try {
    fs.linkSync(file, to);
  } catch {
    fs.copyFileSync(file, to);
  }
  fs.chmodSync(to, 0o755);
}

/**
 * Copies the library and the tests, and links `executables` (the runtimes
 * that will run as nobody), into `dir` (made, mode 0755; its parents must
 * be searchable by everyone, as the system temp dir is). The caller removes
 * it with its own temp dir.
 */
export function stageForNobody(dir: string, executables: string[]): Stage {
  mkdirReadable(dir);
  const staged = new Map<string, string>();
  for (const entry of CHECKOUT) {
    copyReadable(path.join(root, entry), path.join(dir, entry));
  }
  // The children are ES modules; nothing else of package.json is needed.
  fs.writeFileSync(path.join(dir, "package.json"), '{ "type": "module" }\n');
  fs.chmodSync(path.join(dir, "package.json"), 0o644);
  for (const [i, exe] of executables.entries()) {
    const real = fs.realpathSync(exe);
    // One directory each: a runtime may look at its own file name.
    const to = path.join(dir, "bin", String(i), path.basename(real));
    mkdirReadable(path.dirname(to));
    stageExecutable(real, to);
    staged.set(exe, to);
    staged.set(real, to);
  }
  return {
    dir,
    path(file: string): string {
      const exe = staged.get(file);
      if (exe !== undefined) return exe;
      const inside = path.relative(root, path.resolve(file));
      if (inside.startsWith("..") || path.isAbsolute(inside)) {
        throw new RangeError(`"${file}" was not staged`);
      }
      return path.join(dir, inside);
    },
  };
}
