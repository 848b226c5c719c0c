/**
 * The behaviour write-file-atomic and atomically document alike, as one
 * table of cases run through every calling form of each compat entry point
 * (promise, callback, sync). Written from the packages' documented
 * behaviour and test names, in our own words.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { Buffer } from "node:buffer";
import { AtomicWriteError, writeFileAtomic } from "../mod.ts";
import { STATE_KEY } from "../src/_shared_state.ts";
import {
  faultAdapter,
  read,
  settlesWithin,
  tempsIn,
  using,
  withTempDir,
} from "./_fixtures.ts";
import {
  countingOptions,
  onceEach,
  withPollutedPrototype,
} from "./_options.ts";

/** The options both peers take (each adds its own). */
export type PeerOptions = Record<string, unknown> | string;

/** One way to call a compat `writeFile`, always returning a promise. */
export interface CompatForm {
  /** Test name prefix: `writeFile()`, `writeFile() with a callback`, … */
  name: string;
  /** "rejects" or "throws". */
  fails: "rejects" | "throws";
  /** Whether this form runs synchronously. */
  sync: boolean;
  write(file: string, data: unknown, options?: PeerOptions): Promise<void>;
}

/** A peer's `writeFile`: `(file, data, options?, callback?)` or `(file, data, callback)`. */
type AsyncWrite = (
  file: string,
  data: never,
  optionsOrCallback?: never,
  callback?: (error?: unknown) => unknown,
) => Promise<void>;
type SyncWrite = (file: string, data: never, options?: never) => void;

/** The promise, callback and synchronous forms of a peer's API. */
export function formsOf(
  peer: string,
  writeFile: AsyncWrite,
  writeFileSync: SyncWrite,
): CompatForm[] {
  return [
    {
      name: `${peer} writeFile()`,
      fails: "rejects",
      sync: false,
      write: (file, data, options) =>
        writeFile(file, data as never, options as never),
    },
    {
      name: `${peer} writeFile() with a callback`,
      fails: "rejects",
      sync: false,
      write: (file, data, options) =>
        new Promise((resolve, reject) => {
          const done = (error?: unknown) => error ? reject(error) : resolve();
          if (options === undefined) {
            writeFile(file, data as never, done as never);
          } else writeFile(file, data as never, options as never, done);
        }),
    },
    {
      name: `${peer} writeFileSync()`,
      fails: "throws",
      sync: true,
      write: (file, data, options) => {
        try {
          writeFileSync(file, data as never, options as never);
          return Promise.resolve();
        } catch (error) {
          return Promise.reject(error);
        }
      },
    },
  ];
}

/** The permission bits of `file`. */
export function modeOf(file: string): number {
  return fs.statSync(file).mode & 0o7777;
}

/** What a plain create gives in `dir`: 0o666 less the umask. */
export function plainMode(dir: string): number {
  const probe = path.join(dir, ".plain-create-probe");
  fs.writeFileSync(probe, "");
  const mode = modeOf(probe);
  fs.rmSync(probe);
  return mode;
}

/** Why ownership tests cannot run here, or `false`. */
export const needsRoot: string | false = process.platform === "win32"
  ? "no owners on Windows"
  : process.getuid?.() !== 0
  ? "changing owners needs root"
  : false;

/** The cases both peers share, through `form`. */
export function sharedCases(form: CompatForm): void {
  test(`${form.name} takes a number or a boolean in the options' place as no options, as the package does (write-file-atomic's writeFile: for a new file)`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      fs.chmodSync(file, 0o640);
      for (const options of [false, 0, true, 5]) {
        await form.write(file, `options ${options}`, options as never);
        assert.equal(read(file), `options ${options}`);
        assert.equal(modeOf(file), 0o640);
      }
    });
  });

  const { name, fails } = form;

  test(`${name} writes a string`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      await form.write(file, "42");
      assert.equal(read(file), "42");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} takes a string options argument as the encoding`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      await form.write(file, "foo", "utf16le");
      assert.deepEqual(fs.readFileSync(file), Buffer.from("f\0o\0o\0"));
    });
  });

  test(`${name} writes a Buffer and a Uint8Array as they are`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      await form.write(file, Buffer.from("42"));
      assert.equal(read(file), "42");
      await form.write(file, new Uint8Array([0x34, 0x33]), "hex");
      assert.equal(read(file), "43");
    });
  });

  test(`${name} writes an empty file for undefined data`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      await form.write(file, undefined);
      assert.equal(read(file), "");
    });
  });

  test(`${name} replaces the file a symbolic link points to and keeps the link`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "real");
      const link = path.join(dir, "link");
      fs.writeFileSync(file, "42");
      fs.symlinkSync(file, link);
      await form.write(link, "43");
      assert.equal(read(file), "43");
      assert.equal(read(link), "43");
      assert.ok(fs.lstatSync(link).isSymbolicLink());
    });
  });

  test(`${name} applies a mode exactly, whatever the umask`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      await form.write(file, "42", { mode: 0o741 });
      assert.equal(fs.statSync(file).mode, 0o100741);
      await form.write(file, "43", { mode: "0604" });
      assert.equal(modeOf(file), 0o604);
    });
  });

  test(`${name} applies the permission bits of a whole stat.mode, as fs.chmod does`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      fs.chmodSync(file, 0o640);
      const whole = fs.statSync(file).mode; // 0o100640: type and bits
      fs.chmodSync(file, 0o600);
      await form.write(file, "new", { mode: whole });
      assert.equal(modeOf(file), 0o640);
      await form.write(file, "newer", { mode: "100604" });
      assert.equal(modeOf(file), 0o604);
      const highest = 2 ** 32 - 1 - 0o7777 + 0o644; // every bit above set
      await form.write(file, "newest", { mode: highest });
      assert.equal(modeOf(file), 0o644);
    });
  });

  test(`${name} ${fails} with a RangeError for a mode fs.chmod refuses, before touching a file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      for (const mode of [NaN, -1, 1.5, 2 ** 32, "40000000000", Infinity]) {
        await assert.rejects(
          form.write(file, "x", { mode }),
          (error) =>
            error instanceof RangeError && /"mode"/.test(error.message),
          `mode ${String(mode)}`,
        );
      }
      await assert.rejects(
        form.write(file, "x", { mode: "rw-r--r--" }),
        TypeError,
      );
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} keeps the existing mode by default`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      await form.write(file, "42", { mode: 0o741 });
      await form.write(file, "43");
      assert.equal(modeOf(file), 0o741);
    });
  });

  test(`${name} with mode: false gives what a plain create gives, even over an existing file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old", { mode: 0o700 });
      fs.chmodSync(file, 0o700);
      await form.write(file, "new", { mode: false });
      assert.equal(modeOf(file), plainMode(dir));
    });
  });

  test(`${name} gives the owner and group asked for`, {
    skip: needsRoot,
  }, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      await form.write(file, "42", { chown: { uid: 42, gid: 43 } });
      const stat = fs.statSync(file);
      assert.deepEqual([stat.uid, stat.gid], [42, 43]);
      assert.equal(read(file), "42");
    });
  });

  test(`${name} applies a mode and an owner together`, {
    skip: needsRoot,
  }, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      await form.write(file, "42", {
        mode: 0o741,
        chown: { uid: 42, gid: 43 },
      });
      const stat = fs.statSync(file);
      assert.deepEqual([stat.uid, stat.gid, stat.mode], [42, 43, 0o100741]);
    });
  });

  test(
    `${name} keeps the existing owner by default, also when only the mode is given`,
    {
      skip: needsRoot,
    },
    async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "f");
        await form.write(file, "42", { chown: { uid: 42, gid: 43 } });
        await form.write(file, "43", { mode: 0o741 });
        let stat = fs.statSync(file);
        assert.deepEqual([stat.uid, stat.gid, stat.mode], [42, 43, 0o100741]);
        await form.write(file, "44");
        stat = fs.statSync(file);
        assert.deepEqual([stat.uid, stat.gid, stat.mode], [42, 43, 0o100741]);
      });
    },
  );

  test(`${name} with chown: false leaves the file to the writing process`, {
    skip: needsRoot,
  }, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      fs.chownSync(file, 42, 43);
      await form.write(file, "new", { chown: false });
      const stat = fs.statSync(file);
      const ids = [process.getuid?.(), process.getgid?.()];
      assert.deepEqual([stat.uid, stat.gid], ids);
    });
  });

  test(`${name} ${fails} with a TypeError for a chown without both ids`, async () => {
    await withTempDir(async (dir) => {
      await assert.rejects(
        form.write(path.join(dir, "f"), "x", { chown: { uid: 42 } }),
        /expected false or \{ uid, gid \}/,
      );
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} ${fails} with a RangeError for a chown id outside -1 to 2^32 - 1, before touching a file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      for (
        const chown of [
          { uid: 2 ** 32, gid: 0 },
          { uid: 0, gid: -2 },
          { uid: 1e12, gid: 0 },
          { uid: 0, gid: 1.5 },
        ]
      ) {
        await assert.rejects(
          form.write(file, "x", { chown }),
          (error) =>
            error instanceof RangeError && /"chown"/.test(error.message),
          JSON.stringify(chown),
        );
      }
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} with a chown id of -1 leaves that id as it is`, {
    skip: needsRoot,
  }, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      await form.write(file, "42", { chown: { uid: -1, gid: 43 } });
      const stat = fs.statSync(file);
      assert.deepEqual([stat.uid, stat.gid], [process.getuid?.(), 43]);
    });
  });

  test(`${name} succeeds when a non-root process may not give the file away`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const adapter = faultAdapter([{ op: "chown", code: "EPERM" }], {
        ids: () => ({ uid: 1000, gid: 1000 }),
      });
      await using(
        adapter,
        () => form.write(file, "42", { chown: { uid: 42, gid: 43 } }),
      );
      assert.equal(read(file), "42");
      assert.ok(adapter.calls.some((call) => call.startsWith("chown")));
    });
  });

  test(`${name} ${fails} with EPERM when root may not give the file away`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      const adapter = faultAdapter([{ op: "chown", code: "EPERM" }], {
        ids: () => ({ uid: 0, gid: 0 }),
      });
      const error = await using(
        adapter,
        () => form.write(file, "new", { chown: { uid: 42, gid: 43 } }),
      )
        .then(() => null, (e) => e);
      assert.ok(error instanceof AtomicWriteError);
      assert.equal(error.code, "EPERM");
      assert.equal(read(file), "old");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} ${fails} with the failure of a write and leaves the old file and no temporary file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      const adapter = faultAdapter([{ op: "write", code: "ENOSPC" }]);
      const error = await using(adapter, () => form.write(file, "new"))
        .then(() => null, (e) => e);
      assert.ok(error instanceof AtomicWriteError);
      assert.equal(error.code, "ENOSPC");
      assert.equal(read(file), "old");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  for (const op of ["sync", "rename"] as const) {
    test(`${name} ${fails} with the failure of ${op} and leaves the old file and no temporary file`, async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "f");
        fs.writeFileSync(file, "old");
        const adapter = faultAdapter([{ op, code: "EIO" }]);
        const error = await using(adapter, () => form.write(file, "new"))
          .then(() => null, (e) => e);
        assert.ok(error instanceof AtomicWriteError);
        assert.equal(error.code, "EIO");
        assert.equal(read(file), "old");
        assert.deepEqual(tempsIn(dir), []);
      });
    });
  }

  test(`${name} reports the rename's failure even when removing the temporary file fails too`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const adapter = faultAdapter([
        { op: "rename", code: "EXDEV" },
        { op: "remove", code: "EACCES" },
      ]);
      const error = await using(adapter, () => form.write(file, "new"))
        .then(() => null, (e) => e);
      assert.equal(error?.code, "EXDEV");
      for (const temp of tempsIn(dir)) fs.rmSync(path.join(dir, temp));
    });
  });

  test(`${name} writes all of the data after a short write`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      const data = "b".repeat(10_000);
      const adapter = faultAdapter([
        { op: "write", code: "EIO", shortWrite: 4096, times: 1 },
      ]);
      await using(adapter, () => form.write(file, data));
      assert.equal(read(file), data);
      assert.equal(adapter.calls.filter((c) => c === "write").length, 2);
    });
  });

  test(`${name} leaves the options object as it was`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old", { mode: 0o640 });
      const options = { fsync: false };
      await form.write(file, "new", options);
      assert.deepEqual(options, { fsync: false });
    });
  });

  test(`${name} writes a file whose name is 250 bytes long`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "n".repeat(250));
      await form.write(file, "x");
      assert.equal(read(file), "x");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${name} ${fails} with a TypeError coded ERR_INVALID_ARG_VALUE for hex text of an odd length, as fs.writeFile does, and keeps the file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old");
      const error = await form.write(file, "abc", { encoding: "hex" }).then(
        () => null,
        (e) => e,
      );
      assert.ok(error instanceof TypeError, String(error));
      assert.equal((error as { code?: string }).code, "ERR_INVALID_ARG_VALUE");
      assert.equal(read(file), "old");
      assert.deepEqual(fs.readdirSync(dir), ["f"]);
    });
  });

  test(`${name} ${fails} with EISDIR when the target is a directory`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "d");
      fs.mkdirSync(target);
      const error = await form.write(target, "x").then(() => null, (e) => e);
      assert.ok(error instanceof AtomicWriteError);
      assert.equal(error.code, "EISDIR");
      assert.deepEqual(fs.readdirSync(dir), ["d"]);
    });
  });

  test(`${name} with fsync: false makes no fsync, and fsyncs file and directory otherwise`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const adapter = faultAdapter([]);
      await using(adapter, () => form.write(file, "x", { fsync: false }));
      assert.deepEqual(
        adapter.calls.filter((c) => c.startsWith("sync")),
        [],
      );
      await using(adapter, () => form.write(file, "y"));
      assert.deepEqual(
        adapter.calls.filter((c) => c.startsWith("sync")).map((c) =>
          c.split(":")[0]
        ),
        ["sync", "syncDir"],
      );
    });
  });

  test(`${name} writes text as UTF-8 for an empty or false encoding, as the packages do`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      for (const encoding of ["", false, null, 0]) {
        fs.rmSync(file, { force: true });
        await form.write(file, "é", { encoding });
        assert.deepEqual([...fs.readFileSync(file)], [0xc3, 0xa9]);
      }
      await form.write(file, "é", "");
      assert.deepEqual([...fs.readFileSync(file)], [0xc3, 0xa9]);
    });
  });

  test(`${name} fsyncs file and directory for any fsync value but false, as the packages do`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      for (const fsync of [0, "", null, "no"]) {
        const adapter = faultAdapter([]);
        await using(adapter, () => form.write(file, "x", { fsync }));
        assert.deepEqual(
          adapter.calls.filter((c) => c.startsWith("sync")).map((c) =>
            c.split(":")[0]
          ),
          ["sync", "syncDir"],
          `fsync: ${JSON.stringify(fsync)}`,
        );
      }
    });
  });

  test(`${name} ${fails} with a TypeError naming an unknown option`, async () => {
    await withTempDir(async (dir) => {
      const error = await form.write(path.join(dir, "f"), "x", { flag: "w" })
        .then(() => null, (e) => e);
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /unknown option "flag" \(valid: "chown"/);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} ${fails} with a TypeError naming a non-enumerable own unknown option`, async () => {
    await withTempDir(async (dir) => {
      const options = Object.defineProperty({}, "fsycn", { value: false });
      const error = await form.write(path.join(dir, "f"), "x", options)
        .then(() => null, (e) => e);
      assert.ok(error instanceof TypeError, String(error));
      assert.match(error.message, /unknown option "fsycn"/);
      assert.deepEqual(fs.readdirSync(dir), []);
    });
  });

  test(`${name} ignores options set on a polluted Object.prototype, with and without options`, async () => {
    await withTempDir(async (dir) => {
      const plain = plainMode(dir);
      for (const options of [undefined, {}]) {
        const file = path.join(dir, `f${options ? 1 : 0}`);
        const adapter = faultAdapter([]);
        await withPollutedPrototype(
          { fsync: false, mode: 0o777, encoding: "hex" },
          () => using(adapter, () => form.write(file, "é", options)),
        );
        assert.ok(adapter.calls.some((c) => c.split(":")[0] === "sync"));
        assert.equal(modeOf(file), plain);
        assert.equal(read(file), "é");
      }
    });
  });

  test(`${name} reads each option once`, async () => {
    await withTempDir(async (dir) => {
      const { options, reads } = countingOptions({
        chown: false,
        encoding: "utf8",
        fsync: false,
        mode: 0o600,
      });
      await form.write(path.join(dir, "f"), "x", options);
      assert.deepEqual(reads, onceEach(reads));
    });
  });
}

/** Writes from `forms`' async forms settle in call order; the last data wins. */
export function orderCase(form: CompatForm): void {
  if (form.sync) return;
  test(`${form.name} runs writes to one file one after the other, in call order`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const order: number[] = [];
      await Promise.all(
        [0, 1, 2, 3, 4].map((i) =>
          form.write(file, `write ${i}`).then(() => order.push(i))
        ),
      );
      assert.deepEqual(order, [0, 1, 2, 3, 4]);
      assert.equal(read(file), "write 4");
    });
  });
}

/** The lines of the compat entry points' asynchronous writes, by path (`compat/_one_at_a_time.ts`). */
function compatLines(): Map<string, unknown[]> | undefined {
  const state =
    (globalThis as Record<symbol, { compatLines?: Map<string, unknown[]> }>)[
      STATE_KEY
    ];
  return state?.compatLines;
}

/**
 * The writes of a burst to one file, each recording how many of our
 * temporary files its directory holds once its own exists: the
 * package runs them one at a time, so that is always one. `created` names
 * the option called with the temporary file.
 */
function burst(
  form: CompatForm,
  created: string,
  files: string[],
  options: (i: number) => Record<string, unknown> = () => ({}),
): { writes: Promise<void>[]; temps: number[] } {
  const temps: number[] = [];
  const writes = files.map((file, i) =>
    form.write(file, `write ${i}`, {
      ...options(i),
      [created]: () => void temps.push(tempsIn(path.dirname(file)).length),
    })
  );
  return { writes, temps };
}

/**
 * What the packages' asynchronous writes to one file do in a burst: each
 * starts once the one before it has settled (`created` names the option
 * called with the temporary file).
 */
export function oneAtATimeCases(
  form: CompatForm,
  created: string,
  writeSync: (file: string, data: string) => void,
): void {
  if (form.sync) return;
  test(`${form.name} starts a write to a file only once the write before it has settled`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const { writes, temps } = burst(form, created, Array(12).fill(file));
      await Promise.all(writes);
      assert.deepEqual(temps, Array(12).fill(1));
      assert.equal(read(file), "write 11");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${form.name} lines up writes to one file spelled two ways (a/./f and a/f), as the package keys them`, async () => {
    await withTempDir(async (dir) => {
      const spelled = [path.join(dir, "f"), `${dir}${path.sep}.${path.sep}f`];
      const files = Array.from({ length: 6 }, (_, i) => spelled[i % 2]);
      const { writes, temps } = burst(form, created, files);
      await Promise.all(writes);
      assert.deepEqual(temps, Array(6).fill(1));
      assert.equal(read(spelled[0]), "write 5");
    });
  });

  test(`${form.name} gives a write without a mode the bits the write before it left`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      fs.writeFileSync(file, "old", { mode: 0o644 });
      fs.chmodSync(file, 0o644);
      const { writes } = burst(
        form,
        created,
        Array(12).fill(file),
        (i) => i === 0 ? { mode: 0o600 } : {},
      );
      await Promise.all(writes);
      assert.equal(modeOf(file), 0o600);
      assert.equal(read(file), "write 11");
    });
  });

  test(`${form.name} starts the next write to a file after one that failed`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const failure = new Error("refused");
      const started: number[] = [];
      const temps: number[] = [];
      const writes = [0, 1, 2].map((i) =>
        form.write(file, `write ${i}`, {
          [created]: () => {
            started.push(i);
            temps.push(tempsIn(dir).length);
            if (i === 1) throw failure;
          },
        })
      );
      const outcomes = await Promise.allSettled(writes);
      assert.deepEqual(outcomes.map((o) => o.status), [
        "fulfilled",
        "rejected",
        "fulfilled",
      ]);
      assert.deepEqual(started, [0, 1, 2]);
      assert.deepEqual(temps, [1, 1, 1]);
      assert.equal(read(file), "write 2");
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${form.name} lets a synchronous write made meanwhile go ahead at once, as the package does`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const seen: string[] = [];
      const writes = [0, 1, 2].map((i) =>
        form.write(file, `write ${i}`, {
          [created]: () => {
            if (i !== 0) return;
            writeSync(file, "sync");
            seen.push(read(file));
          },
        })
      );
      await Promise.all(writes);
      assert.deepEqual(seen, ["sync"]);
      assert.equal(read(file), "write 2");
    });
  });

  // Each takes its place in call order when called, before it waits for
  // its turn: writes that do not wait in its line rename after it.
  for (
    const [when, compat] of [
      ["", ["compat, called first"]],
      [" while it waits for the write ahead of it", ["compat 0", "compat 1"]],
    ] as const
  ) {
    test(`${form.name} renames before a core write to the file called after it${when}`, async () => {
      await withTempDir(async (dir) => {
        const file = path.join(dir, "f");
        await Promise.all([
          ...compat.map((data) => form.write(file, data)),
          writeFileAtomic(file, "core, called last"),
        ]);
        assert.equal(read(file), "core, called last");
      });
    });
  }

  test(`${form.name} waiting for the write ahead of it to its path holds back no write to another file`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const { promise: gate, resolve: open } = Promise.withResolvers<void>();
      const { promise: inHook, resolve: hooked } = Promise
        .withResolvers<void>();
      const first = form.write(file, "compat 0", {
        [created]: () => {
          hooked();
          return gate;
        },
      });
      await inHook;
      const second = form.write(file, "compat 1");
      const other = writeFileAtomic(path.join(dir, "other"), "other");
      try {
        assert.equal(await settlesWithin(other, 5_000), "settled");
      } finally {
        open();
      }
      await Promise.all([first, second, other]);
      assert.equal(read(file), "compat 1");
    });
  });

  test(`${form.name} lands writes through a link and through the file it leads to in call order`, async () => {
    await withTempDir(async (dir) => {
      const real = path.join(dir, "real");
      const link = path.join(dir, "link");
      fs.writeFileSync(real, "old");
      fs.symlinkSync("real", link);
      await Promise.all([
        form.write(link, "0 via the link"),
        form.write(link, "1 via the link"),
        form.write(real, "2 via the file, called last"),
      ]);
      assert.equal(read(real), "2 via the file, called last");
      assert.ok(fs.lstatSync(link).isSymbolicLink());
      assert.deepEqual(tempsIn(dir), []);
    });
  });

  test(`${form.name} leaves no line behind once the writes to a file have settled, failed ones too`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      const writes = [0, 1, 2].map((i) =>
        form.write(file, `write ${i}`, {
          [created]: () => {
            if (i !== 0) throw new Error("refused");
          },
        })
      );
      await Promise.allSettled(writes);
      const left = [...compatLines()?.keys() ?? []].filter((key) =>
        key.startsWith(dir)
      );
      assert.deepEqual(left, []);
    });
  });
}

/** A peer's `writeFile` taking options and a callback. */
type WriteWithCallback = (
  file: string,
  data: string,
  options: Record<string, unknown>,
  callback: unknown,
) => Promise<unknown>;

/**
 * The callback argument of a peer's asynchronous `writeFile`; `created`
 * names its option called once the temporary file exists.
 */
export function callbackCases(
  peer: string,
  writeFile: WriteWithCallback,
  created: string,
): void {
  test(`${peer} writeFile() with a null or undefined callback returns the promise, which rejects with the write's failure`, async () => {
    await withTempDir(async (dir) => {
      const target = path.join(dir, "d");
      fs.mkdirSync(target);
      for (const none of [null, undefined]) {
        const error = await writeFile(target, "x", {}, none)
          .then(() => null, (e) => e);
        assert.ok(error instanceof AtomicWriteError, String(error));
        assert.equal(error.code, "EISDIR");
      }
      assert.deepEqual(fs.readdirSync(dir), ["d"]);
    });
  });

  test(`${peer} writeFile() throws a TypeError for a callback that is not a function, before the write starts`, async () => {
    await withTempDir(async (dir) => {
      const file = path.join(dir, "f");
      for (const callback of [42, "done", {}, true]) {
        let started = false;
        const options = { [created]: () => void (started = true) };
        assert.throws(
          () => void writeFile(file, "bad", options, callback),
          /Cannot use the callback: expected a function/,
        );
        // Writes to one file run in call order: this one waits for any.
        await writeFile(file, "after", {}, undefined);
        assert.equal(started, false, `callback ${JSON.stringify(callback)}`);
        assert.equal(read(file), "after");
      }
    });
  });
}
