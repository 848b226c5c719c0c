/**
 * `npm run demo`: a process is killed with SIGKILL mid-way through rewriting
 * a JSON file, once as a plain write (truncate, then write: what
 * `cmd > file`, `fs.writeFile` and `Deno.writeFile` do) and once through
 * `atomic-write`. Both writers get the same bytes at the same pace; the demo
 * checks what each leaves on disk and prints a verdict (exit status 0 when
 * the plain write tore the file and the atomic one kept it whole).
 *
 * Run with Node 24: `node_modules/node/bin/node tests/demo/crash_demo.ts`.
 * With `plain-writer FILE` it is the plain writer itself (a child of the demo).
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(import.meta.url);
const cli = path.resolve(path.dirname(here), "..", "..", "cli.ts");
const CHUNK = 64 * 1024;
const CHUNKS = 32; // 2 MiB of new content
const KILL_AFTER = 256 * 1024; // bytes on disk when the writer is killed

/** The plain writer: truncates FILE, then copies standard input into it. */
function plainWriter(file: string): void {
  process.stdin.pipe(fs.createWriteStream(file));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Old and new content: both valid JSON, the new one much larger. */
function contents(): { old: Buffer; fresh: Buffer } {
  const old = Buffer.from(
    JSON.stringify({ version: 1, users: ["ada", "grace"] }, null, 2) + "\n",
  );
  const row = JSON.stringify({ name: "x".repeat(100) });
  const rows = Math.ceil((CHUNK * CHUNKS) / (row.length + 1));
  const fresh = Buffer.from(
    `{"version":2,"users":[${Array(rows).fill(row).join(",")}]}\n`,
  );
  return { old, fresh };
}

function describe(file: string, old: Buffer): string {
  if (!fs.existsSync(file)) return "MISSING";
  const bytes = fs.readFileSync(file);
  if (bytes.equals(old)) {
    return `${bytes.length} bytes, identical to the old file: WHOLE`;
  }
  let valid = true;
  try {
    JSON.parse(bytes.toString("utf8"));
  } catch {
    valid = false;
  }
  return `${bytes.length} bytes, ${
    valid ? "valid" : "NOT valid"
  } JSON, neither old nor new: TORN`;
}

/** The bytes on disk the writer has produced so far. */
function progress(dir: string, file: string): number {
  let most = 0;
  for (const name of fs.readdirSync(dir)) {
    const full = path.join(dir, name);
    if (full === file || name.endsWith(".atomic-tmp")) {
      most = Math.max(most, fs.statSync(full).size);
    }
  }
  return most;
}

/**
 * Feeds `data` to `child` chunk by chunk, as a slow producer would, and
 * kills it with SIGKILL once `KILL_AFTER` new bytes have reached the disk.
 */
async function killMidWrite(
  child: ChildProcess,
  data: Buffer,
  dir: string,
  file: string,
  oldSize: number,
): Promise<void> {
  const ended = new Promise((resolve) => child.on("close", resolve));
  child.stdin?.on("error", () => {}); // EPIPE once it is dead
  for (let offset = 0; offset < data.length; offset += CHUNK) {
    child.stdin?.write(data.subarray(offset, offset + CHUNK));
    // Like a slow producer: the next chunk comes once this one is on disk
    // (the atomic writer may hold back up to one chunk in its buffer).
    const fed = Math.min(offset + CHUNK, data.length);
    for (let wait = 0; wait < 250; wait++) {
      await sleep(20);
      const size = progress(dir, file);
      if (size >= KILL_AFTER && size !== oldSize) {
        child.kill("SIGKILL");
        await ended;
        return;
      }
      if (size >= fed - CHUNK && size !== oldSize) break;
    }
  }
  throw new Error("the writer finished before it could be killed");
}

async function run(
  label: string,
  command: string[],
  dir: string,
  old: Buffer,
  fresh: Buffer,
): Promise<string> {
  const file = path.join(dir, "config.json");
  fs.writeFileSync(file, old);
  console.log(`\n${label}\n  $ ${command.join(" ")}`);
  const child = spawn(command[0], command.slice(1), {
    cwd: dir,
    stdio: ["pipe", "inherit", "inherit"],
  });
  await killMidWrite(child, fresh, dir, file, old.length);
  const leftovers = fs.readdirSync(dir).filter((n) => n !== "config.json");
  const verdict = describe(file, old);
  console.log(
    `  killed with SIGKILL once ${KILL_AFTER / 1024} KiB or more were on disk`,
  );
  console.log(`  config.json now: ${verdict}`);
  if (leftovers.length > 0) {
    console.log(
      `  also left: ${
        leftovers.join(", ")
      } (a temporary file, never the target; removeStaleTemps() sweeps it)`,
    );
  }
  return verdict;
}

async function main(): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "atomic-demo-"));
  try {
    const { old, fresh } = contents();
    const node = process.execPath;
    console.log(
      `Rewriting config.json (${old.length} bytes) with ${fresh.length} bytes of new JSON;`,
    );
    console.log("each writer is killed with SIGKILL mid-write.");

    const plain = await run(
      "1. Plain write (truncate, then write, like `cmd > config.json`)",
      [node, here, "plain-writer", "config.json"],
      dir,
      old,
      fresh,
    );
    for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name));

    const atomic = await run(
      "2. atomic-write (this library's CLI, like `cmd | atomic-write config.json`)",
      [node, cli, "config.json"],
      dir,
      old,
      fresh,
    );
    for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name));

    // And when nobody is killed, the new content arrives whole.
    const file = path.join(dir, "config.json");
    fs.writeFileSync(file, old);
    const done = spawn(node, [cli, "config.json"], {
      cwd: dir,
      stdio: ["pipe", "inherit", "inherit"],
    });
    const status = new Promise((resolve) => done.on("close", resolve));
    done.stdin?.end(fresh);
    const code = await status;
    const complete = code === 0 && fs.readFileSync(file).equals(fresh);
    console.log(
      `\n3. atomic-write, not interrupted: exit ${code}, config.json ${
        complete ? "holds the complete new JSON" : "is WRONG"
      }`,
    );

    const ok = plain.endsWith("TORN") && atomic.endsWith("WHOLE") && complete;
    console.log(
      ok
        ? "\nVERDICT: PASS. Killed mid-write, the plain write left a torn file; atomic-write left the old file whole."
        : "\nVERDICT: FAIL. The outcome above is not the expected one.",
    );
    return ok ? 0 : 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === "plain-writer") {
  plainWriter(process.argv[3]);
} else {
  process.exitCode = await main();
}
