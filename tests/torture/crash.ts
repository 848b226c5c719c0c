/**
 * Crash and sweep: writers killed with SIGKILL at random moments never leave
 * a torn, empty or missing target, and `removeStaleTemps()` then removes
 * exactly the dead writers' leftovers: not a live writer's temporary file,
 * not a young one unless asked, not look-alikes that are not ours.
 */
import fs from "node:fs";
import path from "node:path";
import { tempName, tempNameOwner } from "../../src/_temp_name.ts";
import type { Api } from "./_child.ts";
import {
  APIS,
  backdate,
  Child,
  childArgv,
  DEAD_PID,
  deadWriter,
  describeFailure,
  expect,
  HOUR,
  KiB,
  MiB,
  readOrNull,
  runJob,
  type Runtime,
  sleep,
  tempsIn,
} from "./_harness.ts";
import { checkPayload } from "./_payload.ts";
import type { Family, Suite } from "../_suite.ts";

/** SIGKILLs per runtime and API unless `--kills=` says: 3 × 34 = 102 per runtime. */
const KILLS_PER_API = 34;

/** Kills writers with SIGKILL at random moments; the target must stay a complete payload. */
async function crashLoop(
  suite: Suite,
  rt: Runtime,
  api: Api,
  dir: string,
): Promise<string> {
  const target = path.join(dir, "state.json");
  let created = false;
  let kills = 0;
  const bad: string[] = [];
  for (
    let i = 0;
    i < Number(suite.options.flags.get("kills") ?? KILLS_PER_API) &&
    bad.length < 5;
    i++
  ) {
    const child = new Child(childArgv(rt, {
      mode: "loop",
      target,
      api,
      tag: `${rt.name}-${api}`,
      seed: i + 1,
      min: KiB,
      max: 4 * MiB,
    }));
    try {
      await child.message("ready");
      await sleep(Math.random() * 250);
      child.kill("SIGKILL");
      const { code, signal } = await child.finished();
      expect(
        signal === "SIGKILL",
        `writer ${i} ended by itself (code ${code}): ${child.output.trim()}`,
      );
    } finally {
      child.kill();
    }
    kills++;
    suite.count(rt.name, "kills");
    const bytes = readOrNull(target);
    if (bytes === null) {
      if (created) bad.push(`kill ${i + 1}: the target is missing`);
      continue;
    }
    const check = checkPayload(bytes);
    if (check.ok) created = true;
    else bad.push(`kill ${i + 1}: ${check.reason}`);
  }
  expect(
    bad.length === 0,
    `${bad.length} of ${kills} kills left a bad target: ${bad.join("; ")}`,
  );
  expect(created, "the target was never written: every kill came too early");
  const left = tempsIn(dir).length;
  return `${kills} kills, target complete after every one, ${left} temp files left behind by kill -9`;
}

async function sweep(
  rt: Runtime,
  api: Api,
  dir: string,
  olderThan: number,
): Promise<string[]> {
  const result = await runJob(rt, { mode: "sweep", dir, api, olderThan });
  expect(result.ok, `the sweep failed: ${describeFailure(result)}`);
  return (result.removed as string[]).slice().sort();
}

function same(actual: string[], expected: string[], what: string): void {
  const a = actual.map((f) => path.basename(f)).sort();
  const e = expected.map((f) => path.basename(f)).sort();
  expect(
    JSON.stringify(a) === JSON.stringify(e),
    `${what}: removed [${a.join(", ")}], expected [${e.join(", ")}]`,
  );
}

/** After the crash loop: the sweep removes exactly the dead writers' leftovers. */
async function sweepAfterCrash(
  rt: Runtime,
  api: Api,
  dir: string,
): Promise<string> {
  const target = path.join(dir, "state.json");
  const leftovers = fs.readdirSync(dir)
    .filter((name) => tempNameOwner(name) !== null)
    .map((name) => path.join(dir, name));
  // A dead writer's temp file that is too young for a cautious sweep.
  const young = path.join(dir, tempName("young.json", deadWriter()));
  fs.writeFileSync(young, "partial");
  // Look-alikes that are not ours, old enough to be tempting.
  const lookalikes = [
    path.join(dir, "notes.atomic-tmp"),
    path.join(dir, `.fake.${DEAD_PID}-zzzzzzzzzzzz.atomic-tmp`),
  ];
  for (const file of lookalikes) fs.writeFileSync(file, "not ours");
  const dirLike = path.join(dir, tempName("dir", deadWriter()));
  fs.mkdirSync(dirLike);
  for (const file of [...lookalikes, dirLike]) backdate(file, 2 * HOUR);

  // A live writer on the same runtime, in the middle of a write, its temp file backdated.
  const holder = new Child(
    childArgv(rt, { mode: "hold", target: path.join(dir, "other.json") }),
  );
  try {
    const held = (await holder.message("ready")).temps as string[];
    expect(held.length === 1, `the live writer has ${held.length} temp files`);
    backdate(held[0], 2 * HOUR);

    same(await sweep(rt, api, dir, HOUR), [], "olderThan one hour");
    same(await sweep(rt, api, dir, 0), [...leftovers, young], "olderThan 0");
    expect(fs.existsSync(held[0]), "the live writer's temp file was removed");
    for (const file of [...lookalikes, dirLike]) {
      expect(fs.existsSync(file), `${path.basename(file)} was removed`);
    }
    const check = checkPayload(readOrNull(target) ?? new Uint8Array());
    expect(
      check.ok,
      `the target is bad after the sweep: ${!check.ok && check.reason}`,
    );

    holder.kill("SIGKILL");
    await holder.finished();
    same(await sweep(rt, api, dir, 60_000), held, "after the writer died");
  } finally {
    holder.kill();
  }
  const rest = fs.readdirSync(dir).sort();
  const expected = [
    "state.json",
    ...lookalikes.map((f) => path.basename(f)),
    path.basename(dirLike),
  ].sort();
  expect(
    JSON.stringify(rest) === JSON.stringify(expected),
    `left in the directory: ${rest.join(", ")}`,
  );
  return `removed the ${leftovers.length} crash leftovers and a young dead temp only when asked, kept the live writer's temp until it died and 3 look-alikes`;
}

/** Per API: the crash loop, then the sweep of what it left, in one directory. */
export const crash: Family = {
  id: "crash",
  proves:
    "a SIGKILL at any moment leaves the old or the new file, and the sweep removes only dead writers' leftovers",
  cases: (suite, rt) =>
    APIS.flatMap((api) => {
      const dir = suite.mkdir("crash", `${rt.name}-${api}`);
      return [
        {
          name: `crash loop ${rt.name}/${api}`,
          run: () => crashLoop(suite, rt, api, dir),
        },
        {
          name: `sweep after kill -9 ${rt.name}/${api}`,
          run: () => sweepAfterCrash(rt, api, dir),
        },
      ];
    }),
};
