/**
 * The world of a directory swap, shared by the tests of writes
 * (`swapped_directory_test.ts`) and of locks
 * (`swapped_lock_directory_test.ts`): another user who owns a directory on
 * the target's path swaps it for a link to a directory of root's, at an
 * exact step of the library (the adapter seam).
 */
import fs from "node:fs";
import path from "node:path";
import { type FaultAdapter, faultAdapter } from "./_fixtures.ts";
import type { OpName } from "../src/runtime/types.ts";

/** The world of {@linkcode world}. */
export interface SwapWorld {
  /** `home/sub/config`, the attacker's file that the victim writes. */
  readonly target: string;
  /** `etc/config`, the victim's own file. */
  readonly victim: string;
  /** `etc`, the victim's directory. */
  readonly etc: string;
  /** Where `home/sub` is once swapped away. */
  readonly moved: string;
  /** Swaps `home/sub` for a link to `etc`. */
  swap(): void;
}

/**
 * The world of the attack, in `dir`: `home/sub/config`, a wide-open file
 * of the attacker's (0666) that the victim writes, and `etc/config`, the
 * victim's own file (0644) that a link can make `home/sub` lead to.
 */
export function world(dir: string): SwapWorld {
  const home = path.join(dir, "home");
  const sub = path.join(home, "sub");
  const etc = path.join(dir, "etc");
  fs.mkdirSync(sub, { recursive: true });
  fs.mkdirSync(etc);
  const target = path.join(sub, "config");
  fs.writeFileSync(target, "attacker's");
  fs.chmodSync(target, 0o666);
  const victim = path.join(etc, "config");
  fs.writeFileSync(victim, "root's");
  fs.chmodSync(victim, 0o644);
  return {
    target,
    victim,
    etc,
    moved: path.join(home, "moved"),
    swap: () => {
      fs.renameSync(sub, path.join(home, "moved"));
      fs.symlinkSync(etc, sub);
    },
  };
}

/** The bits and content of `file`. */
export function described(file: string): [number, string] {
  return [fs.statSync(file).mode & 0o777, fs.readFileSync(file, "utf8")];
}

/**
 * The real adapter, where `act` runs once: just before (or just after) the
 * first call of `op` on an entry whose name starts with `name` (or, given
 * a function, whose path satisfies it).
 */
export function actingAt(
  op: OpName,
  name: string | ((file: string) => boolean),
  when: "before" | "after",
  act: () => void,
  adapter: FaultAdapter = faultAdapter([]),
): FaultAdapter {
  const matches = typeof name === "function"
    ? name
    : (file: string) => path.basename(file).startsWith(name);
  let done = false;
  const once = (args: unknown[]) => {
    if (done || typeof args[0] !== "string" || !matches(args[0])) return;
    done = true;
    act();
  };
  const realSync = adapter.sync[op] as (...a: unknown[]) => unknown;
  const realAsync = adapter.async[op] as (...a: unknown[]) => Promise<unknown>;
  Object.assign(adapter.sync, {
    [op]: (...args: unknown[]) => {
      if (when === "before") once(args);
      const result = realSync(...args);
      if (when === "after") once(args);
      return result;
    },
  });
  Object.assign(adapter.async, {
    [op]: async (...args: unknown[]) => {
      if (when === "before") once(args);
      const result = await realAsync(...args);
      if (when === "after") once(args);
      return result;
    },
  });
  return adapter;
}
