/**
 * The one runner of the suites that drive real systems (the torture suite's
 * fault families, the file-system matrix): it takes a table of families,
 * runs each family's cases on every runtime (three runtimes at a time),
 * prints one line per case and the counts, and undoes every mount it was
 * given. All state lives in a {@linkcode Suite} made by the caller.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import type { Mount } from "./_mounts.ts";
import { Skip } from "./_skip.ts";
import { pool, type Runtime, runtimes } from "./torture/_harness.ts";

/** One case: it passes when `run` returns (its text says what was shown). */
export interface Case {
  /** Unique within the suite, naming the runtime: `--only` matches it. */
  name: string;
  run(): Promise<string>;
}

/**
 * A family of cases (a fault family of the torture suite, a file system of
 * the matrix): what it proves, why it cannot run here (if so), and its cases
 * for one runtime, run in order.
 */
export interface Family {
  /** The name `--families=` selects it by. */
  id: string;
  /** One line: what the family proves. */
  proves: string;
  /** Why this family cannot run on this machine, or `null`. */
  problem?(suite: Suite): string | null;
  /**
   * The cases for `runtime`, run one after the other. Work shared by several
   * cases (a mount, a run of all writers at once) goes through
   * {@linkcode Suite.once}, so it is done only if a case that needs it runs.
   */
  cases(suite: Suite, runtime: Runtime): Case[];
}

/** One case's outcome. */
export interface Outcome {
  family: string;
  name: string;
  runtime: string;
  status: "pass" | "fail" | "skip";
  detail: string;
}

/** How the suite was asked to run (`run.ts` parses these from its flags). */
export interface SuiteOptions {
  /** The suite's name: it starts the working directory's name. */
  name: string;
  runtimes: Runtime[];
  /** Every `--key=value` flag, for the families' own (`--kills=`). */
  flags: Map<string, string>;
  /** Only cases whose name contains this text run (the rest are not listed). */
  only?: string | undefined;
  /** Keep the working directory for inspection. */
  keep?: boolean;
  /** The working directory to use (made if missing) instead of a fresh temp dir. */
  dir?: string | undefined;
}

/** One run of the suite: its working directory, mounts, outcomes and counts. */
export class Suite {
  readonly options: SuiteOptions;
  /** The working directory, world-readable so that `nobody` can use it. */
  readonly root: string;
  readonly outcomes: Outcome[] = [];
  readonly #counts = new Map<string, Map<string, number>>();
  readonly #mounts: Mount[] = [];
  readonly #once = new Map<string, Promise<unknown>>();
  readonly #started = Date.now();

  constructor(options: SuiteOptions) {
    this.options = options;
    if (options.dir) fs.mkdirSync(options.dir, { recursive: true });
    this.root = fs.realpathSync(
      options.dir ??
        fs.mkdtempSync(path.join(os.tmpdir(), `atomic-${options.name}-`)),
    );
    fs.chmodSync(this.root, 0o755);
  }

  /** Makes (if needed) and returns a directory under the working directory. */
  mkdir(...parts: string[]): string {
    const dir = path.join(this.root, ...parts);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    return dir;
  }

  /**
   * Keeps `mount` to be undone when its family's cases are done
   * ({@linkcode Suite.release}), or by {@linkcode Suite.close}.
   */
  adopt(mount: Mount): Mount {
    this.#mounts.push(mount);
    return mount;
  }

  /**
   * The result of `work`, done the first time `key` is asked for; later
   * callers get the same promise (and the same error, such as a
   * {@linkcode Skip}).
   */
  once<T>(key: string, work: () => T | Promise<T>): Promise<T> {
    let done = this.#once.get(key);
    if (done === undefined) {
      done = Promise.resolve().then(work);
      done.catch(() => {}); // each caller sees the error when it awaits
      this.#once.set(key, done);
    }
    return done as Promise<T>;
  }

  /**
   * Adds `n` to the counter `what` of `runtime` ("kills", "faults
   * injected", …) and returns its new value; the report prints each counter
   * that was used, in the order they were first used.
   */
  count(runtime: string, what: string, n = 1): number {
    let counts = this.#counts.get(runtime);
    if (counts === undefined) {
      counts = new Map();
      this.#counts.set(runtime, counts);
    }
    const value = (counts.get(what) ?? 0) + n;
    counts.set(what, value);
    return value;
  }

  /**
   * Runs one case and prints its line: it fails when it throws, and is
   * skipped when it throws {@linkcode Skip} or `skip` is a reason.
   */
  async run(
    family: string,
    runtime: string,
    c: Case,
    skip: string | null,
  ): Promise<void> {
    const started = Date.now();
    let outcome: Outcome;
    try {
      if (skip) throw new Skip(skip);
      const detail = await c.run();
      outcome = { family, name: c.name, runtime, status: "pass", detail };
    } catch (error) {
      outcome = {
        family,
        name: c.name,
        runtime,
        status: error instanceof Skip ? "skip" : "fail",
        detail: error instanceof Error ? error.message : String(error),
      };
    }
    this.outcomes.push(outcome);
    const label = { pass: "PASS", fail: "FAIL", skip: "SKIP" }[outcome.status];
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `${label} [${family}] ${c.name} (${runtime}, ${secs}s): ${outcome.detail}`,
    );
  }

  /** Prints the counts per runtime and per family; returns the exit status. */
  report(): number {
    const seconds = ((Date.now() - this.#started) / 1000).toFixed(0);
    console.log(`\nPer runtime (${seconds} s in all):`);
    for (const rt of this.options.runtimes) {
      const mine = this.outcomes.filter((o) => o.runtime === rt.name);
      const n = (status: Outcome["status"]) =>
        mine.filter((o) => o.status === status).length;
      const counters = [...this.#counts.get(rt.name) ?? []].map(([what, n]) =>
        `${what} ${n}`
      );
      console.log(
        `  ${rt.name.padEnd(5)} ${
          counters.length > 0 ? counters.join(", ") + "; " : ""
        }${n("pass")} passed, ${n("fail")} failed, ${n("skip")} skipped`,
      );
    }
    const failed = this.outcomes.filter((o) => o.status === "fail");
    const skipped = this.outcomes.filter((o) => o.status === "skip");
    const byFamily = new Map<string, string[]>();
    for (const o of failed) {
      byFamily.set(o.family, [...(byFamily.get(o.family) ?? []), o.name]);
    }
    for (const [family, names] of byFamily) {
      console.log(`  ${family}: ${names.length} failed (${names.join("; ")})`);
    }
    if (skipped.length > 0) {
      console.log(
        `  ${skipped.length} skipped: ${
          [...new Set(skipped.map((o) => o.detail))].join("; ")
        }`,
      );
    }
    const passed = this.outcomes.filter((o) => o.status === "pass").length;
    console.log(`${passed} passed, ${failed.length} failed`);
    if (passed + failed.length === 0 && skipped.length === 0) {
      console.log("no case matched: nothing was shown");
      return 1;
    }
    return failed.length > 0 ? 1 : 0;
  }

  /** Undoes every mount adopted so far, last first. */
  release(): void {
    for (const mount of this.#mounts.splice(0).reverse()) mount.close();
  }

  /** Undoes every mount and removes the working directory. */
  close(): void {
    this.release();
    if (!this.options.keep) {
      fs.rmSync(this.root, { recursive: true, force: true });
    }
  }
}

/**
 * Runs `families` in order; within one, each runtime's cases run in order,
 * three runtimes at a time.
 */
export async function runFamilies(
  suite: Suite,
  families: Family[],
): Promise<void> {
  const only = suite.options.only;
  for (const family of families) {
    const problem = family.problem?.(suite) ?? null;
    await pool(
      3,
      suite.options.runtimes.map((rt) => async () => {
        for (const c of family.cases(suite, rt)) {
          if (only && !c.name.includes(only)) continue;
          await suite.run(family.id, rt.name, c, problem);
        }
      }),
    );
    suite.release();
  }
}

/** `--key=value` flags (a bare `--key` is `"true"`). */
function parseFlags(argv: string[]): Map<string, string> {
  return new Map(argv.map((arg) => {
    const [key, value = "true"] = arg.replace(/^--/, "").split("=");
    return [key, value];
  }));
}

/** The elements of `all` named in the comma-separated `list`; throws on an unknown name. */
function pick<T>(all: T[], nameOf: (t: T) => string, list: string): T[] {
  const names = list.split(",");
  const unknown = names.filter((n) => !all.some((t) => nameOf(t) === n));
  if (unknown.length > 0) {
    throw new RangeError(
      `Unknown "${unknown.join(", ")}": choose from ${
        all.map(nameOf).join(", ")
      }`,
    );
  }
  return all.filter((t) => names.includes(nameOf(t)));
}

/**
 * The command line of a suite: runs the `families` chosen by
 * `--families=a,b` on the runtimes chosen by `--runtimes=deno,bun` (default
 * all of each), only the cases whose name contains `--only=TEXT`, in the
 * working directory `--dir=DIR` (default: a fresh one), kept with `--keep`;
 * undoes its mounts on SIGINT and SIGTERM too. Prints `heading` first, and `summary` (if given) before the counts;
 * returns the exit status.
 */
export async function runSuite(
  name: string,
  families: Family[],
  argv: string[],
  heading: string,
  summary?: (suite: Suite) => void,
): Promise<number> {
  const flags = parseFlags(argv);
  let chosen: Family[];
  let suite: Suite;
  try {
    chosen = pick(
      families,
      (f) => f.id,
      flags.get("families") ?? families.map((f) => f.id).join(","),
    );
    suite = new Suite({
      name,
      runtimes: pick(
        runtimes,
        (rt) => rt.name,
        flags.get("runtimes") ?? runtimes.map((rt) => rt.name).join(","),
      ),
      flags,
      only: flags.get("only"),
      keep: flags.has("keep"),
      dir: flags.get("dir"),
    });
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const onSignal = (signal: NodeJS.Signals) => {
    suite.close();
    process.exit(128 + os.constants.signals[signal]);
  };
  process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
  try {
    console.log(
      `${heading}; runtimes ${
        suite.options.runtimes.map((r) => r.name).join(", ")
      }; families ${chosen.map((f) => f.id).join(",")}${
        suite.options.only ? `; only "${suite.options.only}"` : ""
      }; in ${suite.root}`,
    );
    await runFamilies(suite, chosen);
    summary?.(suite);
    return suite.report();
  } catch (error) {
    console.error(error);
    suite.report();
    return 1;
  } finally {
    suite.close();
  }
}
