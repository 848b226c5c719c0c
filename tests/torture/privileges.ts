/**
 * Privileges: writers run as `nobody` (setpriv), not as root, who ignores
 * permissions. A read-only directory fails with EACCES at once; a 0640 file
 * of another user is replaced, owned by nobody, never readable by more
 * users than before.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import type { Api, Job } from "./_child.ts";
import {
  APIS,
  childScript,
  describeFailure,
  expect,
  hasCommand,
  KiB,
  type Message,
  NOBODY,
  noTemps,
  readOrNull,
  runJob,
  type Runtime,
  runtimes,
  shaOf,
} from "./_harness.ts";
import { type Stage, stageForNobody } from "../_stage.ts";
import { checkPayload, makePayload, sha256 } from "./_payload.ts";
import type { Family, Suite } from "../_suite.ts";

function privilegeProblem(): string | null {
  if (process.getuid?.() !== 0) return "needs root to run a writer as nobody";
  if (!hasCommand("setpriv")) return "setpriv (util-linux) is not installed";
  try {
    execFileSync("id", ["-u", "nobody"], { stdio: "ignore" });
    execFileSync("getent", ["group", "nogroup"], { stdio: "ignore" });
  } catch {
    return "no nobody user or nogroup group";
  }
  return null;
}

/** A home of nobody's own for the runtimes' caches, made once. */
function nobodyHome(suite: Suite): Promise<string> {
  return suite.once("nobody-home", () => {
    const home = suite.mkdir("nobody-home");
    fs.chownSync(home, NOBODY, NOBODY);
    return home;
  });
}

/**
 * The library, the child and the runtimes, copied where nobody can read them
 * (the checkout may be private: a clone under /root is 0700), made once.
 */
function staged(suite: Suite): Promise<Stage> {
  return suite.once("nobody-stage", () =>
    stageForNobody(
      suite.mkdir("nobody-stage"),
      runtimes.map((rt) => rt.argv[0]),
    ));
}

/** Runs `job` as nobody; throws unless it really ran as nobody. */
async function nobodyJob(
  suite: Suite,
  rt: Runtime,
  job: Job,
): Promise<Message> {
  const home = await nobodyHome(suite);
  const stage = await staged(suite);
  const [exe, ...rest] = rt.argv;
  const result = await runJob(
    { ...rt, argv: [stage.path(exe), ...rest] },
    job,
    ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"],
    {
      HOME: home,
      DENO_DIR: path.join(home, "deno"),
      XDG_CACHE_HOME: path.join(home, "cache"),
      TMPDIR: home,
    },
    stage.path(childScript),
  );
  expect(
    result.uid === NOBODY,
    `the writer ran as uid ${result.uid}, not nobody`,
  );
  return result;
}

/** Writes 64 KiB of new content to `target` with `api`, as nobody. */
function writeAsNobody(
  suite: Suite,
  rt: Runtime,
  api: Api,
  target: string,
): Promise<Message> {
  return nobodyJob(suite, rt, {
    mode: "once",
    target,
    api,
    tag: "new",
    size: 64 * KiB,
  });
}

/** A read-only directory: EACCES at once, target intact, no temp. */
async function readOnlyDirCase(
  suite: Suite,
  rt: Runtime,
  api: Api,
): Promise<string> {
  const dir = suite.mkdir("perm", `${rt.name}-${api}`, "ro");
  const target = path.join(dir, "data.bin");
  const old = makePayload("old", 0, 8 * KiB);
  fs.writeFileSync(target, old);
  fs.chmodSync(target, 0o666); // writable in place: only the directory is read-only
  const result = await writeAsNobody(suite, rt, api, target);
  expect(
    !result.ok,
    "the write succeeded in a directory nobody cannot write to",
  );
  expect(
    result.code === "EACCES",
    `expected EACCES, got ${describeFailure(result)}`,
  );
  expect(
    (result.ms as number) < 1000,
    `EACCES took ${Math.round(result.ms as number)} ms`,
  );
  expect(shaOf(target) === sha256(old), "the target changed");
  noTemps(dir, result);
  return `EACCES from "${result.operation}" in ${
    (result.ms as number).toFixed(1)
  } ms, target intact, no temp`;
}

/**
 * A target owned by someone else, mode 0640, in a directory nobody may
 * write: replaced, now owned by nobody (only root can give files away); the
 * group is kept when nobody belongs to it, and otherwise its bits drop to
 * what everyone else has, so the file is never readable by more users.
 */
async function foreignTargetCase(
  suite: Suite,
  rt: Runtime,
  api: Api,
  group: "root" | "nogroup",
): Promise<string> {
  const dir = suite.mkdir("perm", `${rt.name}-${api}`, `rw-${group}`);
  fs.chownSync(dir, NOBODY, NOBODY);
  const target = path.join(dir, "data.bin");
  fs.writeFileSync(target, makePayload("old", 0, 8 * KiB));
  const gid = group === "root" ? 0 : NOBODY;
  fs.chownSync(target, 0, gid);
  fs.chmodSync(target, 0o640);
  const result = await writeAsNobody(suite, rt, api, target);
  expect(result.ok, `the write failed: ${describeFailure(result)}`);
  const check = checkPayload(readOrNull(target) ?? new Uint8Array());
  expect(
    check.ok && check.info.tag === "new",
    "the target is not the new content",
  );
  const stat = fs.statSync(target);
  const mode = stat.mode & 0o7777;
  expect(
    (mode & ~0o640) === 0,
    `the mode widened from 0640 to 0${mode.toString(8)}`,
  );
  expect(stat.uid === NOBODY, `owner is ${stat.uid}, expected nobody`);
  if (group === "nogroup") {
    expect(
      stat.gid === NOBODY,
      `group is ${stat.gid}, expected nogroup (kept)`,
    );
    expect(
      mode === 0o640,
      `mode is 0${mode.toString(8)}, expected 0640 (kept)`,
    );
  } else {
    expect(stat.gid === NOBODY, `group is ${stat.gid}, expected nobody's own`);
    expect(
      mode === 0o600,
      `mode is 0${mode.toString(8)}, expected 0600 (group bits dropped)`,
    );
  }
  noTemps(dir, result);
  return `replaced; now ${stat.uid}:${stat.gid} 0${
    mode.toString(8)
  } (was 0:${gid} 0640), no temp`;
}

/** The three cases per API, as nobody. */
export const privileges: Family = {
  id: "privileges",
  proves:
    "as a normal user: EACCES at once in a read-only directory; foreign 0640 files replaced without widening",
  problem: privilegeProblem,
  cases: (suite, rt) =>
    APIS.flatMap((api) =>
      (
        [
          ["read-only directory", () => readOnlyDirCase(suite, rt, api)],
          [
            "0640 target of another user and group",
            () => foreignTargetCase(suite, rt, api, "root"),
          ],
          [
            "0640 target of another user, shared group",
            () => foreignTargetCase(suite, rt, api, "nogroup"),
          ],
        ] as const
      ).map(([what, run]) => ({
        name: `as nobody: ${what} ${rt.name}/${api}`,
        run,
      }))
    ),
};
