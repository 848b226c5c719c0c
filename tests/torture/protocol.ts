/**
 * The durable protocol, seen from outside: one default write under
 * `strace -f -y` makes its temporary file with O_CREAT|O_EXCL beside the
 * target, writes every byte there (none to the target), fsyncs it, renames
 * it over the target and then fsyncs the directory, in that order.
 */
import fs from "node:fs";
import path from "node:path";
import type { Api } from "./_child.ts";
import {
  APIS,
  describeFailure,
  expect,
  KiB,
  runJob,
  type Runtime,
} from "./_harness.ts";
import { makePayload } from "./_payload.ts";
import type { Family, Suite } from "../_suite.ts";
import { straceProblem } from "./faults.ts";
import {
  type Call,
  LINKS,
  onPath,
  OPENS,
  parseTrace,
  RENAMES,
  SYNCS,
  WRITES,
} from "./_strace.ts";

/**
 * `calls` with the names made through `dir` held open (`/proc/self/fd/N/x`,
 * where N is the descriptor an `openat` of `dir` returned: see "Directories
 * other users may write to" in the README) spelled as `dir/x`, as the
 * kernel resolves them.
 */
function throughHeldDirectory(calls: Call[], dir: string): Call[] {
  const held = calls
    .filter((c) =>
      OPENS.includes(c.name) && c.text.includes(`"${dir}"`) &&
      /O_DIRECTORY/.test(c.text) && c.ret >= 0
    )
    .map((c) => c.ret);
  if (held.length === 0) return calls;
  const through = new RegExp(`/proc/self/fd/(?:${held.join("|")})/`, "g");
  return calls.map((c) => ({ ...c, text: c.text.replace(through, `${dir}/`) }));
}

/** One default write under `strace -f -y`: O_EXCL temp, writes, fsync, rename, fsync(dir), in that order. */
async function protocolCase(
  suite: Suite,
  rt: Runtime,
  api: Api,
): Promise<string> {
  const dir = suite.mkdir("protocol", `${rt.name}-${api}`);
  const base = "data.bin";
  const target = path.join(dir, base);
  fs.writeFileSync(target, makePayload("old", 0, 10 * KiB));
  const size = 300 * KiB;
  const trace = path.join(dir, "..", `${rt.name}-${api}.trace`);
  const set = [...OPENS, ...WRITES, ...SYNCS, ...RENAMES, ...LINKS].join(",");
  const result = await runJob(
    rt,
    { mode: "once", target, api, tag: "proto", size },
    ["strace", "-f", "-y", "-q", "-o", trace, "-e", `trace=${set}`, "--"],
  );
  expect(result.ok, `the write failed: ${describeFailure(result)}`);
  const calls = throughHeldDirectory(
    parseTrace(fs.readFileSync(trace, "utf8")),
    dir,
  );

  const creates = calls.filter((c) =>
    OPENS.includes(c.name) &&
    c.text.includes(`"${dir}/.${base}.`) && c.text.includes('.atomic-tmp"')
  );
  expect(
    creates.length === 1,
    `${creates.length} temporary files opened beside the target, expected 1`,
  );
  const create = creates[0];
  expect(
    /O_CREAT/.test(create.text) && /O_EXCL/.test(create.text) &&
      create.ret >= 0,
    `the temporary file was not created with O_CREAT|O_EXCL: ${create.name}(${create.text}`,
  );
  const temp = /"([^"]+\.atomic-tmp)"/.exec(create.text)![1];
  const writes = calls.filter((c) =>
    WRITES.includes(c.name) && onPath(c, temp)
  );
  const written = writes.reduce((sum, c) => sum + Math.max(0, c.ret), 0);
  expect(
    written === size,
    `${written} bytes written to the temp file, expected ${size}`,
  );
  expect(
    writes.every((c) => c.start > create.end),
    "a write came before the temp file was created",
  );
  const inPlace = calls.filter((c) =>
    WRITES.includes(c.name) && onPath(c, target)
  );
  expect(
    inPlace.length === 0,
    `${inPlace.length} writes went to the target itself`,
  );
  const syncs = calls.filter((c) => SYNCS.includes(c.name) && onPath(c, temp));
  expect(
    syncs.length >= 1 && syncs.every((c) => c.ret === 0),
    "the temp file was not fsynced",
  );
  const sync = syncs[syncs.length - 1];
  const lastWrite = Math.max(...writes.map((c) => c.end));
  expect(
    sync.start > lastWrite,
    "the fsync came before the last write finished",
  );
  const renames = calls.filter((c) =>
    c.name.startsWith("rename") && c.text.includes(`"${temp}"`) &&
    c.text.includes(`"${target}"`)
  );
  expect(
    renames.length === 1 && renames[0].ret === 0,
    `${renames.length} renames of the temp onto the target`,
  );
  const rename = renames[0];
  expect(
    rename.start > sync.end,
    "the rename came before the temp file's fsync finished",
  );
  const dirSyncs = calls.filter((c) =>
    SYNCS.includes(c.name) && onPath(c, dir) && c.start > rename.end
  );
  expect(
    dirSyncs.length >= 1 && dirSyncs[0].ret === 0,
    "the directory was not fsynced after the rename",
  );
  return `${create.name}(O_CREAT|O_EXCL) → ${writes.length} ${
    [...new Set(writes.map((c) => c.name))].join("/")
  } (${written} B) → ${sync.name}(temp) → ${rename.name} → ${
    dirSyncs[0].name
  }(dir)`;
}

/** One traced write per API. */
export const protocol: Family = {
  id: "protocol",
  proves:
    "the write is O_EXCL temp → writes → fsync → rename → fsync(dir), in that order",
  problem: straceProblem,
  cases: (suite, rt) =>
    APIS.map((api) => ({
      name: `durable protocol ${rt.name}/${api}`,
      run: () => protocolCase(suite, rt, api),
    })),
};
