/**
 * The torture suite (issue 3): real crashes, real system-call faults, a
 * really full disk, real permissions, real contention, and the durable
 * protocol checked from the outside, on Deno, Bun and Node 24, for the
 * async, handle (`openAtomic`) and sync APIs.
 *
 * Run with Node 24: `node tests/torture/run.ts [--items=1,2] [--runtimes=deno,bun]
 * [--kills=N] [--keep]`, or `npm run test:torture`. With `ATOMIC_IMPL=naive`
 * the children write with plain `fs.writeFile` instead (see `_naive.ts`), and
 * every item should fail. Prints one line per case, counts per runtime, and
 * last `N passed, N failed`; exits non-zero on any failure.
 */
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { tempName, tempNameOwner } from "../../src/_temp_name.ts";
import type { Api, Job } from "./_child.ts";
import { type Stage, stageForNobody } from "../_stage.ts";
import {
  Child,
  childArgv,
  childScript,
  countsOf,
  expect,
  hasCommand,
  type Message,
  naive,
  outcomes,
  pool,
  readOrNull,
  runCase,
  type Runtime,
  runtimes as allRuntimes,
  Skip,
  sleep,
  tempsIn,
} from "./_harness.ts";
import { checkPayload, makePayload, sha256 } from "./_payload.ts";

const APIS: Api[] = ["async", "handle", "sync"];
const KiB = 1024;
const MiB = 1024 * KiB;
const HOUR = 3_600_000;
/** A process id no process has: above Linux's largest `pid_max`. */
const DEAD_PID = 999_999_999;
const NOBODY = 65534;

const args = new Map(
  process.argv.slice(2).map((arg) => {
    const [key, value = "true"] = arg.replace(/^--/, "").split("=");
    return [key, value];
  }),
);
const items = new Set(
  (args.get("items") ?? "1,2,3,4,5,6,7").split(",").map(Number),
);
const runtimes = allRuntimes.filter((rt) =>
  (args.get("runtimes") ?? "deno,bun,node").split(",").includes(rt.name)
);
/** Kills per runtime and API: 3 × 34 = 102 per runtime. */
const KILLS_PER_API = Number(args.get("kills") ?? 34);

const started = Date.now();
const runRoot = fs.realpathSync(
  fs.mkdtempSync(path.join(os.tmpdir(), "atomic-torture-")),
);
fs.chmodSync(runRoot, 0o755); // item 4's children run as nobody
const mounts: string[] = [];

function mkdir(...parts: string[]): string {
  const dir = path.join(runRoot, ...parts);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  return dir;
}

function backdate(file: string, ms: number): void {
  const when = (Date.now() - ms) / 1000;
  fs.utimesSync(file, when, when);
}

function shaOf(file: string): string | null {
  const bytes = readOrNull(file);
  return bytes === null ? null : sha256(bytes);
}

function noTemps(dir: string): void {
  const left = tempsIn(dir);
  expect(left.length === 0, `temporary files left: ${left.join(", ")}`);
}

/** Runs `job` on `runtime` to its `result` message. */
async function runJob(
  runtime: Runtime,
  job: Job,
  prefix: string[] = [],
  env: Record<string, string> = {},
  script?: string,
): Promise<Message> {
  const child = new Child([...prefix, ...childArgv(runtime, job, script)], env);
  try {
    const result = await child.message("result");
    await child.finished();
    return result;
  } finally {
    child.kill();
  }
}

function describeFailure(result: Message): string {
  return result.ok
    ? "it succeeded"
    : `${result.code} from "${result.operation}": ${result.message}`;
}

// ---------------------------------------------------------------- item 1

/** Kills writers with SIGKILL at random moments; the target must stay a complete payload. */
async function crashLoop(rt: Runtime, api: Api, dir: string): Promise<string> {
  const target = path.join(dir, "state.json");
  let created = false;
  let kills = 0;
  const bad: string[] = [];
  for (let i = 0; i < KILLS_PER_API && bad.length < 5; i++) {
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
    countsOf(rt.name).kills++;
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

// ---------------------------------------------------------------- item 7

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
  const young = path.join(dir, tempName("young.json", DEAD_PID));
  fs.writeFileSync(young, "partial");
  // Look-alikes that are not ours, old enough to be tempting.
  const lookalikes = [
    path.join(dir, "notes.atomic-tmp"),
    path.join(dir, `.fake.${DEAD_PID}-zzzzzzzzzzzz.atomic-tmp`),
  ];
  for (const file of lookalikes) fs.writeFileSync(file, "not ours");
  const dirLike = path.join(dir, tempName("dir", DEAD_PID));
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

// ---------------------------------------------------------------- item 2

interface Fault {
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

const FAULTS: Fault[] = [
  {
    id: "openat",
    syscalls: ["openat", "open", "creat"],
    errno: "EACCES",
    on: "temp",
  },
  {
    id: "write",
    syscalls: ["write", "pwrite64", "writev", "pwritev", "pwritev2"],
    errno: "ENOSPC",
    on: "temp",
  },
  { id: "fsync", syscalls: ["fsync", "fdatasync"], errno: "EIO", on: "temp" },
  // Deno (Rust's File drop) and Bun discard errors from close(2); with the
  // fsync before it, the data is already on the device when it fails.
  {
    id: "close",
    syscalls: ["close"],
    errno: "EIO",
    on: "temp",
    unreportedBy: ["deno", "bun"],
  },
  {
    id: "rename",
    syscalls: ["rename", "renameat", "renameat2"],
    errno: "EROFS",
    on: "temp",
  },
  {
    id: "link",
    syscalls: ["link", "linkat"],
    errno: "EPERM",
    on: "temp",
    create: true,
  },
  {
    id: "fsync(dir)",
    syscalls: ["fsync", "fdatasync"],
    errno: "EIO",
    on: "dir",
    committed: true,
  },
];

/** Fails one real system call inside the runtime with `strace -e inject`. */
async function faultCase(rt: Runtime, api: Api, fault: Fault): Promise<string> {
  const dir = mkdir(
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
  // -D keeps the runtime the shell's own process, so its pid (and with the
  // child's fixed random bytes, its temporary file name) is known in advance.
  const script = 'P="$DIR"; [ "$ON" = temp ] && P="$PREFIX$$$SUFFIX"; ' +
    'exec strace -D -f -q -o "$TRACE" -e trace="$SET" ' +
    '-e inject="$SET":error="$ERRNO" -P "$P" -- "$@"';
  const child = new Child(["sh", "-c", script, "sh", ...childArgv(rt, job)], {
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
  const injected =
    (fs.readFileSync(trace, "utf8").match(/\(INJECTED\)/g) ?? []).length;
  countsOf(rt.name).faults += injected;
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
    noTemps(dir);
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
  noTemps(dir);
  return `${fault.errno} from "${result.operation}" (${injected} injected), target ${
    fault.committed ? "new and flagged committed" : "byte-identical"
  }, no temp`;
}

// ---------------------------------------------------------------- item 6

interface Call {
  pid: string;
  name: string;
  text: string;
  ret: number;
  start: number;
  end: number;
}

/** The system calls in an `strace -f -y` log, unfinished and resumed halves joined. */
function parseTrace(log: string): Call[] {
  const calls: Call[] = [];
  const open = new Map<string, Call>();
  const finish = (call: Call, tail: string, index: number) => {
    call.text += tail;
    call.end = index;
    const at = call.text.lastIndexOf(" = ");
    call.ret = at < 0 ? NaN : parseInt(call.text.slice(at + 3), 10);
  };
  log.split("\n").forEach((line, index) => {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) return;
    const [, pid, rest] = m;
    const resumed = /^<\.\.\. (\w+) resumed>(.*)$/.exec(rest);
    if (resumed) {
      const call = open.get(pid);
      if (call && call.name === resumed[1]) finish(call, resumed[2], index);
      open.delete(pid);
      return;
    }
    const entry = /^(\w+)\((.*)$/.exec(rest);
    if (!entry) return;
    const call: Call = {
      pid,
      name: entry[1],
      text: "",
      ret: NaN,
      start: index,
      end: -1,
    };
    calls.push(call);
    if (entry[2].endsWith("<unfinished ...>")) {
      call.text = entry[2].slice(0, -"<unfinished ...>".length);
      open.set(pid, call);
    } else {
      finish(call, entry[2], index);
    }
  });
  return calls;
}

const WRITES = ["write", "pwrite64", "writev", "pwritev", "pwritev2"];
const SYNCS = ["fsync", "fdatasync"];

/** One default write under `strace -f -y`: O_EXCL temp, writes, fsync, rename, fsync(dir), in that order. */
async function protocolCase(rt: Runtime, api: Api): Promise<string> {
  const dir = mkdir("protocol", `${rt.name}-${api}`);
  const base = "data.bin";
  const target = path.join(dir, base);
  fs.writeFileSync(target, makePayload("old", 0, 10 * KiB));
  const size = 300 * KiB;
  const trace = path.join(dir, "..", `${rt.name}-${api}.trace`);
  const set = [
    "openat",
    "open",
    "creat",
    ...WRITES,
    ...SYNCS,
    "rename",
    "renameat",
    "renameat2",
    "link",
    "linkat",
  ].join(",");
  const result = await runJob(
    rt,
    { mode: "once", target, api, tag: "proto", size },
    ["strace", "-f", "-y", "-q", "-o", trace, "-e", `trace=${set}`, "--"],
  );
  expect(result.ok, `the write failed: ${describeFailure(result)}`);
  const calls = parseTrace(fs.readFileSync(trace, "utf8"));
  const onPath = (call: Call, file: string) =>
    new RegExp(`^\\d+<${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}>`).test(
      call.text,
    );

  const creates = calls.filter((c) =>
    ["openat", "open", "creat"].includes(c.name) &&
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

// ---------------------------------------------------------------- item 3

function mountTmpfs(name: string): string {
  const dir = mkdir("tmpfs", name);
  const result = spawnSync("mount", [
    "-t",
    "tmpfs",
    "-o",
    "size=256k,mode=0755",
    "torture",
    dir,
  ], {
    encoding: "utf8",
  });
  if (result.status !== 0) {
    throw new Skip(
      `cannot mount a tmpfs (${
        (result.stderr || result.error?.message || "").trim()
      })`,
    );
  }
  mounts.push(dir);
  return dir;
}

function freeBlocks(
  dir: string,
): { free: number; size: number; total: number } {
  const s = fs.statfsSync(dir);
  return { free: s.bavail, size: s.bsize, total: s.blocks };
}

/** A 1 MiB write on a 256 KiB tmpfs: ENOSPC, old bytes intact, no temp, space back. */
async function fullDiskCase(
  rt: Runtime,
  api: Api,
  mount: string,
): Promise<string> {
  const dir = path.join(mount, api);
  fs.mkdirSync(dir);
  try {
    const target = path.join(dir, "data.bin");
    const old = makePayload("old", 0, 16 * KiB);
    fs.writeFileSync(target, old);
    const before = freeBlocks(mount);
    const result = await runJob(rt, {
      mode: "once",
      target,
      api,
      tag: "big",
      size: MiB,
    });
    expect(!result.ok, "a 1 MiB write to a 256 KiB file system succeeded");
    expect(
      result.code === "ENOSPC",
      `expected ENOSPC, got ${describeFailure(result)}`,
    );
    expect(shaOf(target) === sha256(old), "the old bytes are not intact");
    noTemps(dir);
    const after = freeBlocks(mount);
    expect(
      after.free === before.free,
      `${before.free - after.free} blocks not freed`,
    );
    return `ENOSPC from "${result.operation}", old bytes intact, no temp, all ${before.free} free blocks back`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A write that uses every free block: it succeeds and the old file's space is freed. */
async function justFitsCase(
  rt: Runtime,
  api: Api,
  mount: string,
): Promise<string> {
  const dir = path.join(mount, api);
  fs.mkdirSync(dir);
  try {
    const target = path.join(dir, "data.bin");
    const empty = freeBlocks(mount).free;
    fs.writeFileSync(target, makePayload("old", 0, 16 * KiB));
    const { free, size: block } = freeBlocks(mount);
    const size = free * block;
    const result = await runJob(rt, {
      mode: "once",
      target,
      api,
      tag: "fits",
      size,
    });
    expect(
      result.ok,
      `a write of exactly the free space (${size} B) failed: ${
        describeFailure(result)
      }`,
    );
    const check = checkPayload(readOrNull(target) ?? new Uint8Array());
    expect(
      check.ok && check.info.size === size,
      "the target is not the new content",
    );
    noTemps(dir);
    const after = freeBlocks(mount);
    expect(
      after.free === empty - free,
      `${after.free} blocks free after, expected the old file's ${
        empty - free
      }`,
    );
    return `${size} B (every free block) written, the old file's ${after.free} blocks freed, no temp`;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- item 4

let nobodyHome = "";
/** The library, the child and the runtimes, where nobody can read them. */
let stage: Stage;

function asNobody(): { prefix: string[]; env: Record<string, string> } {
  return {
    prefix: [
      "setpriv",
      "--reuid=nobody",
      "--regid=nogroup",
      "--clear-groups",
      "--",
    ],
    env: {
      HOME: nobodyHome,
      DENO_DIR: path.join(nobodyHome, "deno"),
      XDG_CACHE_HOME: path.join(nobodyHome, "cache"),
      TMPDIR: nobodyHome,
    },
  };
}

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

async function nobodyJob(rt: Runtime, job: Job): Promise<Message> {
  const { prefix, env } = asNobody();
  const [exe, ...rest] = rt.argv;
  const staged = { ...rt, argv: [stage.path(exe), ...rest] };
  const result = await runJob(
    staged,
    job,
    prefix,
    env,
    stage.path(childScript),
  );
  expect(
    result.uid === NOBODY,
    `the writer ran as uid ${result.uid}, not nobody`,
  );
  return result;
}

/** A read-only directory: EACCES at once, target intact, no temp. */
async function readOnlyDirCase(rt: Runtime, api: Api): Promise<string> {
  const dir = mkdir("perm", `${rt.name}-${api}`, "ro");
  const target = path.join(dir, "data.bin");
  const old = makePayload("old", 0, 8 * KiB);
  fs.writeFileSync(target, old);
  fs.chmodSync(target, 0o666); // writable in place: only the directory is read-only
  const result = await nobodyJob(rt, {
    mode: "once",
    target,
    api,
    tag: "new",
    size: 64 * KiB,
  });
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
  noTemps(dir);
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
  rt: Runtime,
  api: Api,
  group: "root" | "nogroup",
): Promise<string> {
  const dir = mkdir("perm", `${rt.name}-${api}`, `rw-${group}`);
  fs.chownSync(dir, NOBODY, NOBODY);
  const target = path.join(dir, "data.bin");
  fs.writeFileSync(target, makePayload("old", 0, 8 * KiB));
  const gid = group === "root" ? 0 : NOBODY;
  fs.chownSync(target, 0, gid);
  fs.chmodSync(target, 0o640);
  const result = await nobodyJob(rt, {
    mode: "once",
    target,
    api,
    tag: "new",
    size: 64 * KiB,
  });
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
  noTemps(dir);
  return `replaced; now ${stat.uid}:${stat.gid} 0${
    mode.toString(8)
  } (was 0:${gid} 0640), no temp`;
}

// ---------------------------------------------------------------- item 5

/** Writers on every runtime and API at once, readers checking every read. */
async function contention(): Promise<void> {
  const dir = mkdir("contention");
  const target = path.join(dir, "shared.json");
  const stop = path.join(runRoot, "contention.stop");
  fs.writeFileSync(target, makePayload("initial", 0, 4 * KiB));
  const writers: { rt: Runtime; api: Api; child: Child }[] = [];
  const readers: { rt: Runtime; child: Child }[] = [];
  let seed = 1;
  for (const rt of runtimes) {
    for (const api of APIS) {
      const job: Job = {
        mode: "contend",
        target,
        api,
        tag: `${rt.name}-${api}`,
        seed: seed++,
        min: KiB,
        max: 256 * KiB,
        ms: 4000,
      };
      writers.push({ rt, api, child: new Child(childArgv(rt, job)) });
    }
    readers.push({
      rt,
      child: new Child(childArgv(rt, { mode: "read", target, stop })),
    });
  }
  const all = [...writers, ...readers].map((w) => w.child);
  const perRuntime = new Map<string, string[]>(
    runtimes.map((rt) => [rt.name, []]),
  );
  let setupError = "";
  try {
    await Promise.all(all.map((c) => c.message("ready")));
    for (const c of all) c.send("go");
    for (const w of writers) {
      const r = await w.child.message("result", 60_000);
      countsOf(w.rt.name).writes += r.writes as number;
      if ((r.errors as number) > 0) {
        perRuntime.get(w.rt.name)!.push(
          `${w.api} writer: ${r.errors} errors, e.g. ${
            JSON.stringify(r.firstErrors)
          }`,
        );
      }
      if ((r.writes as number) === 0) {
        perRuntime.get(w.rt.name)!.push(`${w.api} writer wrote nothing`);
      }
    }
    fs.writeFileSync(stop, "");
    for (const r of readers) {
      const m = await r.child.message("result", 30_000);
      countsOf(r.rt.name).reads += m.reads as number;
      const problems = perRuntime.get(r.rt.name)!;
      if ((m.torn as number) > 0) {
        problems.push(
          `reader: ${m.torn} torn reads (${
            (m.tornReasons as string[]).join("; ")
          })`,
        );
      }
      if ((m.missing as number) > 0) {
        problems.push(`reader: ${m.missing} reads found no file`);
      }
      if ((m.reads as number) === 0) problems.push("reader: no reads");
    }
    await Promise.all(all.map((c) => c.finished()));
  } catch (error) {
    setupError = error instanceof Error ? error.message : String(error);
  } finally {
    for (const c of all) c.kill();
  }
  const left = tempsIn(dir);
  const final = checkPayload(readOrNull(target) ?? new Uint8Array());
  for (const rt of runtimes) {
    await runCase(
      5,
      `contention ${rt.name} (async+handle+sync writers, reader)`,
      rt.name,
      () => {
        const problems = perRuntime.get(rt.name)!;
        expect(!setupError, setupError);
        expect(problems.length === 0, problems.join("; "));
        expect(left.length === 0, `temporary files left: ${left.join(", ")}`);
        expect(
          final.ok,
          `the final target is bad: ${!final.ok && final.reason}`,
        );
        const c = countsOf(rt.name);
        return Promise.resolve(
          `${c.writes} writes, 0 errors; ${c.reads} reads validated, 0 torn or missing; no temp (with ${writers.length} writers on all runtimes)`,
        );
      },
    );
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  console.log(
    `torture: ${
      naive ? "NAIVE fs.writeFile implementation" : "@x/atomic"
    }; runtimes ${runtimes.map((r) => r.name).join(", ")}; items ${
      [...items].join(",")
    }; in ${runRoot}`,
  );
  const strace = hasCommand("strace") ? null : "strace is not installed";

  if (items.has(1) || items.has(7)) {
    await pool(
      3,
      runtimes.map((rt) => async () => {
        for (const api of APIS) {
          const dir = mkdir("crash", `${rt.name}-${api}`);
          if (items.has(1)) {
            await runCase(
              1,
              `crash loop ${rt.name}/${api}`,
              rt.name,
              () => crashLoop(rt, api, dir),
            );
          }
          if (items.has(7)) {
            await runCase(
              7,
              `sweep after kill -9 ${rt.name}/${api}`,
              rt.name,
              () => sweepAfterCrash(rt, api, dir),
            );
          }
        }
      }),
    );
  }
  if (items.has(2)) {
    await pool(
      3,
      runtimes.map((rt) => async () => {
        for (const api of APIS) {
          for (const fault of FAULTS) {
            await runCase(
              2,
              `${fault.id} fails with ${fault.errno} ${rt.name}/${api}`,
              rt.name,
              () => {
                if (strace) throw new Skip(strace);
                return faultCase(rt, api, fault);
              },
            );
          }
        }
      }),
    );
  }
  if (items.has(3)) {
    await pool(
      3,
      runtimes.map((rt) => async () => {
        let mount: string | null = null;
        let skip: string | null = null;
        try {
          mount = mountTmpfs(rt.name);
        } catch (error) {
          skip = (error as Error).message;
        }
        for (const api of APIS) {
          await runCase(
            3,
            `ENOSPC on a full tmpfs ${rt.name}/${api}`,
            rt.name,
            () => {
              if (skip) throw new Skip(skip);
              return fullDiskCase(rt, api, mount!);
            },
          );
          await runCase(
            3,
            `write that just fits ${rt.name}/${api}`,
            rt.name,
            () => {
              if (skip) throw new Skip(skip);
              return justFitsCase(rt, api, mount!);
            },
          );
        }
      }),
    );
  }
  if (items.has(4)) {
    const problem = privilegeProblem();
    if (!problem) {
      nobodyHome = mkdir("nobody-home");
      fs.chownSync(nobodyHome, NOBODY, NOBODY);
      // The checkout may be private (0700): nobody runs staged copies.
      stage = stageForNobody(
        path.join(runRoot, "stage"),
        runtimes.map((rt) => rt.argv[0]),
      );
    }
    await pool(
      3,
      runtimes.map((rt) => async () => {
        for (const api of APIS) {
          const cases: [string, () => Promise<string>][] = [
            ["read-only directory", () => readOnlyDirCase(rt, api)],
            [
              "0640 target of another user and group",
              () => foreignTargetCase(rt, api, "root"),
            ],
            [
              "0640 target of another user, shared group",
              () => foreignTargetCase(rt, api, "nogroup"),
            ],
          ];
          for (const [name, fn] of cases) {
            await runCase(
              4,
              `as nobody: ${name} ${rt.name}/${api}`,
              rt.name,
              () => {
                if (problem) throw new Skip(problem);
                return fn();
              },
            );
          }
        }
      }),
    );
  }
  if (items.has(5)) await contention();
  if (items.has(6)) {
    await pool(
      3,
      runtimes.map((rt) => async () => {
        for (const api of APIS) {
          await runCase(
            6,
            `durable protocol ${rt.name}/${api}`,
            rt.name,
            () => {
              if (strace) throw new Skip(strace);
              return protocolCase(rt, api);
            },
          );
        }
      }),
    );
  }
}

function cleanUp(): void {
  for (const mount of mounts.splice(0)) {
    const result = spawnSync("umount", [mount], { encoding: "utf8" });
    if (result.status !== 0) {
      console.error(`cannot unmount ${mount}: ${result.stderr}`);
    }
  }
  if (!args.has("keep")) fs.rmSync(runRoot, { recursive: true, force: true });
}

function report(): number {
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`\nPer runtime (${seconds} s in all):`);
  for (const rt of runtimes) {
    const c = countsOf(rt.name);
    console.log(
      `  ${
        rt.name.padEnd(5)
      } kills ${c.kills}, faults injected ${c.faults}, reads validated ${c.reads}, contended writes ${c.writes}; ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`,
    );
  }
  const failed = outcomes.filter((o) => o.status === "fail");
  const skipped = outcomes.filter((o) => o.status === "skip");
  const byItem = new Map<number, string[]>();
  for (const o of failed) {
    byItem.set(o.item, [...(byItem.get(o.item) ?? []), o.name]);
  }
  for (const [item, names] of [...byItem].sort((a, b) => a[0] - b[0])) {
    console.log(`  item ${item}: ${names.length} failed (${names.join("; ")})`);
  }
  if (skipped.length > 0) {
    console.log(
      `  ${skipped.length} skipped: ${
        [...new Set(skipped.map((o) => o.detail))].join("; ")
      }`,
    );
  }
  const passed = outcomes.filter((o) => o.status === "pass").length;
  console.log(`${passed} passed, ${failed.length} failed`);
  return failed.length > 0 ? 1 : 0;
}

let status = 1;
try {
  await main();
  status = report();
} catch (error) {
  console.error(error);
  report();
} finally {
  cleanUp();
}
process.exit(status);
