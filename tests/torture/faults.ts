/**
 * Syscall faults: one real system call inside the runtime fails (strace
 * `-e inject`), and the write reports that call's errno as `code`, leaves
 * the target byte-identical (or, after the rename, new and flagged
 * `committed`) and no temporary file.
 */
import fs from "node:fs";
import path from "node:path";
import type { Api, Job } from "./_child.ts";
import {
  APIS,
  Child,
  childArgv,
  describeFailure,
  expect,
  hasCommand,
  KiB,
  type Message,
  noTemps,
  root,
  type Runtime,
  shaOf,
  tempsIn,
} from "./_harness.ts";
import { makePayload, sha256 } from "./_payload.ts";
import type { Family, Suite } from "../_suite.ts";
import {
  injectedCount,
  LINKS,
  OPENS,
  RENAMES,
  SYNCS,
  WRITES,
} from "./_strace.ts";

/** One injected failure. */
export interface Fault {
  id: string;
  syscalls: string[];
  errno: string;
  /** Which path the fault is limited to (`strace -P`). */
  on: "temp" | "dir";
  /** Create-if-absent (`overwrite: false`), which publishes with link(). */
  create?: boolean;
  /** The fault comes after the rename: the error says `committed`. */
  committed?: boolean;
  /**
   * Runtimes that never report this failure to JavaScript (README, "Runtime
   * differences"): there the write must still be whole and leave no temp.
   */
  unreportedBy?: string[];
}

/** Every fault, in the order the write meets them. */
export const FAULTS: Fault[] = [
  { id: "openat", syscalls: OPENS, errno: "EACCES", on: "temp" },
  { id: "write", syscalls: WRITES, errno: "ENOSPC", on: "temp" },
  { id: "fsync", syscalls: SYNCS, errno: "EIO", on: "temp" },
  // Deno (Rust's File drop) and Bun discard errors from close(2); with the
  // fsync before it, the data is already on the device when it fails.
  {
    id: "close",
    syscalls: ["close"],
    errno: "EIO",
    on: "temp",
    unreportedBy: ["deno", "bun"],
  },
  { id: "rename", syscalls: RENAMES, errno: "EROFS", on: "temp" },
  { id: "link", syscalls: LINKS, errno: "EPERM", on: "temp", create: true },
  {
    id: "fsync(dir)",
    syscalls: SYNCS,
    errno: "EIO",
    on: "dir",
    committed: true,
  },
];

/** The script that starts a child under strace with the fault injected. */
const INJECT = path.join(root, "tests/torture/_inject.sh");

/** Fails one real system call inside the runtime with `strace -e inject`. */
async function faultCase(
  suite: Suite,
  rt: Runtime,
  api: Api,
  fault: Fault,
): Promise<string> {
  const dir = suite.mkdir(
    "faults",
    `${rt.name}-${api}-${fault.id.replace(/\W/g, "")}`,
  );
  const base = "data.bin";
  const target = path.join(dir, base);
  let before: string | null = null;
  if (!fault.create) {
    const old = makePayload("old", 0, 20 * KiB);
    fs.writeFileSync(target, old);
    before = sha256(old);
  }
  const fresh = makePayload("new", 1, 200 * KiB);
  const trace = path.join(dir, "..", `${path.basename(dir)}.trace`);
  const job: Job = {
    mode: "once",
    target,
    api,
    tag: "new",
    size: fresh.length,
    fixedNames: true,
    ...(fault.create ? { overwrite: false } : {}),
  };
  const child = new Child(["sh", INJECT, ...childArgv(rt, job)], {
    DIR: dir,
    ON: fault.on,
    PREFIX: `${dir}/.${base}.`,
    SUFFIX: "-000000000000.atomic-tmp",
    TRACE: trace,
    SET: fault.syscalls.join(","),
    ERRNO: fault.errno,
  });
  let result: Message;
  try {
    result = await child.message("result");
    await child.finished(); // strace shares the pipes: this waits for it too
  } finally {
    child.kill();
  }
  const injected = injectedCount(fs.readFileSync(trace, "utf8"));
  suite.count(rt.name, "faults injected", injected);
  expect(
    injected > 0,
    `no ${fault.id} call was failed (nothing to inject into); the write ${
      describeFailure(result)
    }`,
  );
  if (result.ok && fault.unreportedBy?.includes(rt.name)) {
    expect(
      shaOf(target) === sha256(fresh),
      "the target is not the new content",
    );
    noTemps(dir, result);
    return `${fault.errno} from ${fault.id} not reported by ${rt.name} (documented); target whole and new, no temp`;
  }
  if (result.ok) {
    const now = shaOf(target);
    const state = now === sha256(fresh)
      ? "the new content"
      : now === before
      ? "unchanged"
      : "neither old nor new";
    throw new Error(
      `${injected} ${fault.id} call(s) failed with ${fault.errno}, yet the write succeeded (target ${state}, temps: ${
        tempsIn(dir).length
      })`,
    );
  }
  expect(
    result.code === fault.errno,
    `expected code ${fault.errno}, got ${describeFailure(result)}`,
  );
  if (fault.committed) {
    expect(result.committed === true, "the error does not say committed");
    expect(
      shaOf(target) === sha256(fresh),
      "the committed target is not the new content",
    );
  } else {
    expect(result.committed !== true, "the error says committed");
    expect(
      shaOf(target) === before,
      before === null ? "the target was created" : "the target changed",
    );
  }
  noTemps(dir, result);
  return `${fault.errno} from "${result.operation}" (${injected} injected), target ${
    fault.committed ? "new and flagged committed" : "byte-identical"
  }, no temp`;
}

/** Why strace cannot be used here, or `null`. */
export function straceProblem(): string | null {
  return hasCommand("strace") ? null : "strace is not installed";
}

/** Every fault on every API. */
export const faults: Family = {
  id: "faults",
  proves:
    "a failing system call is reported with its errno, the target intact (or new and `committed`), no temp",
  problem: straceProblem,
  cases: (suite, rt) =>
    APIS.flatMap((api) =>
      FAULTS.map((fault) => ({
        name: `${fault.id} fails with ${fault.errno} ${rt.name}/${api}`,
        run: () => faultCase(suite, rt, api, fault),
      }))
    ),
};
