/**
 * Running `tests/_sweep_child.ts` as `nobody`, from a world-readable copy
 * (the checkout may be private), against a shared sticky directory that
 * root owns, like `/tmp`.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { root, scriptCommand, withTempDir } from "./_fixtures.ts";
import { stageForNobody } from "./_stage.ts";
import { NOBODY, stickyDir } from "./_sticky_fixtures.ts";

/** Runs the child as nobody with `args`; what it printed. */
export type NobodyChild = (...args: string[]) => string;

/**
 * Calls `fn` with a child that runs as nobody, and a fresh sticky directory
 * owned by root. `wrap` may run the child's command in another command (as
 * root, before it drops to nobody).
 */
export async function withNobody(
  fn: (asNobody: NobodyChild, shared: string) => void | Promise<void>,
  wrap: (command: string[]) => string[] = (command) => command,
): Promise<void> {
  await withTempDir(async (base) => {
    fs.chmodSync(base, 0o755);
    const home = path.join(base, "home");
    fs.mkdirSync(home);
    fs.chownSync(home, NOBODY, NOBODY);
    const stage = stageForNobody(path.join(base, "stage"), [process.execPath]);
    const asNobody: NobodyChild = (...args) => {
      const [exe, ...rest] = scriptCommand(
        stage.path(path.join(root, "tests", "_sweep_child.ts")),
        args,
      );
      const [command, ...commandArgs] = wrap([
        "setpriv",
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        stage.path(exe),
        ...rest,
      ]);
      return execFileSync(
        command,
        commandArgs,
        {
          encoding: "utf8",
          env: {
            ...process.env,
            HOME: home,
            DENO_DIR: path.join(home, "deno"),
          },
        },
      ).trim();
    };
    await fn(asNobody, stickyDir(base));
  });
}
