/**
 * Owners inside a user namespace (a rootless container, `unshare --user`):
 * `stat` shows every owner that the namespace does not map as one
 * placeholder, the overflow id 65534, which names no one in particular. A
 * replaced file keeps an owner or a group only where it is known, and the
 * set-user-ID and set-group-ID bits go with them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import {
  ownership,
  read,
  root,
  scriptCommand,
  withTempDir,
} from "./_fixtures.ts";
import { spawnSync } from "node:child_process";
import { apis } from "./_apis.ts";
import { hasCommand } from "./_commands.ts";
import { skipTest } from "./_skip.ts";
import { OwnerIds } from "../src/runtime/_proc.ts";
import { UNKNOWN_OWNER } from "../src/runtime/types.ts";
import {
  cannotUnshare,
  inUserNamespace,
  PROTECTED_SYMLINKS,
  UNREADABLE_MAP,
} from "./_namespaces.ts";

const skip = cannotUnshare() ?? false;
if (skip) console.log(`user namespace tests skipped: ${skip}`);

/** A user and groups outside every namespace these tests make. */
const OTHER = 1000;
const OTHER_GROUP = 1001;

/**
 * Writes "written by child" to `target` from inside a user namespace with
 * `map`, after `setup` (see `inUserNamespace`); what the child printed.
 */
function writeInside(
  map: string,
  target: string,
  setup?: string,
): Promise<string> {
  return inUserNamespace(
    map,
    scriptCommand(path.join(root, "tests", "_child.ts"), ["write", target]),
    setup,
  );
}

/** A file at `dir/name` with "old" in it, `owner` and `mode`. */
function fileOf(
  dir: string,
  name: string,
  owner: [number, number],
  mode: number,
): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, "old");
  fs.chownSync(file, ...owner);
  fs.chmodSync(file, mode);
  return file;
}

test(
  "writeFileAtomic() in a user namespace does not make another user's set-user-ID file the writer's (it drops the bit)",
  { skip },
  async () => {
    await withTempDir(async (dir) => {
      const target = fileOf(dir, "tool", [OTHER, OTHER], 0o4755);
      assert.equal(await writeInside("root", target), "ok");
      assert.equal(read(target), "written by child");
      // Root inside cannot give it back to uid 1000 (not mapped): the file
      // is root's, without the bit that made uid 1000's program run as 1000.
      assert.equal(ownership(target), "0:0 755");
    });
  },
);

test(
  "writeFileAtomic() in a user namespace never gives a file to the id that stands for unmapped owners",
  { skip },
  async () => {
    await withTempDir(async (dir) => {
      const target = fileOf(dir, "secret", [OTHER, OTHER], 0o600);
      // A rootless container's map: its nobody (65534) is a real user
      // outside (200000), and uid 1000's file shows inside as 65534 too.
      assert.equal(
        await writeInside("0 0 1\n65534 200000 1\n", target),
        "ok",
      );
      assert.equal(read(target), "written by child");
      assert.equal(ownership(target), "0:0 600");
    });
  },
);

test(
  "writeFileAtomic() in a user namespace cuts the group bits of a file whose unmapped group a set-group-ID directory replaces",
  { skip },
  async () => {
    await withTempDir(async (base) => {
      const dir = path.join(base, "shared");
      fs.mkdirSync(dir);
      fs.chownSync(dir, 0, OTHER);
      fs.chmodSync(dir, 0o2775);
      const target = fileOf(dir, "notes", [0, OTHER_GROUP], 0o640);
      // Inside, the directory's group and the file's both show as 65534.
      assert.equal(await writeInside("root", target), "ok");
      assert.equal(read(target), "written by child");
      assert.equal(ownership(target), `0:${OTHER} 600`);
    });
  },
);

test(
  "writeFileAtomic() in a user namespace keeps the owner, group and bits it knows",
  { skip },
  async () => {
    await withTempDir(async (dir) => {
      const target = fileOf(dir, "own-tool", [0, 0], 0o6755);
      assert.equal(await writeInside("root", target), "ok");
      assert.equal(ownership(target), "0:0 6755");
    });
  },
);

test(
  "writeFileAtomic() in a user namespace where the writer itself is 65534 does not take unmapped owners' files for its own",
  { skip },
  async () => {
    await withTempDir(async (dir) => {
      // The writer (root outside) is the namespace's 65534; uid 1000 is not
      // mapped, so its file shows as 65534 too.
      const target = fileOf(dir, "their-tool", [OTHER, OTHER], 0o6755);
      assert.equal(await writeInside("65534 0 1\n", target), "ok");
      assert.equal(read(target), "written by child");
      assert.equal(ownership(target), "0:0 755");
    });
  },
);

test(
  "writeFileAtomic() in a user namespace where the writer itself is 65534 and its maps cannot be read does not take unmapped owners' files for its own",
  { skip },
  async () => {
    await withTempDir(async (dir) => {
      // As for Deno without --allow-all: the maps cannot be read, so 65534
      // may be anyone, the writer's own files as well as uid 1000's.
      const target = fileOf(dir, "their-tool", [OTHER, OTHER], 0o6775);
      assert.equal(
        await writeInside("65534 0 1\n", target, UNREADABLE_MAP),
        "ok",
      );
      assert.equal(read(target), "written by child");
      assert.equal(ownership(target), "0:0 755");
    });
  },
);

test(
  "writeFileAtomic() in a user namespace where the writer itself is 65534 and its maps cannot be read does not follow an unmapped user's link in a sticky directory",
  { skip },
  async () => {
    await withTempDir(async (base) => {
      const shared = path.join(base, "tmp");
      fs.mkdirSync(shared);
      fs.chmodSync(shared, 0o1777);
      const victim = path.join(base, "victim");
      fs.writeFileSync(victim, "root's");
      fs.chmodSync(victim, 0o600);
      const link = path.join(shared, "link");
      fs.symlinkSync(victim, link);
      fs.lchownSync(link, OTHER, OTHER);
      assert.equal(
        await writeInside(
          "65534 0 1\n",
          link,
          `${UNREADABLE_MAP} && ${PROTECTED_SYMLINKS}`,
        ),
        "EACCES",
      );
      assert.equal(read(victim), "root's");
      assert.equal(fs.readlinkSync(link), victim);
      assert.deepEqual(fs.readdirSync(shared), ["link"]);
    });
  },
);

// ------------------------------------------------------- idmapped mounts

test(
  "writeFileAtomic(), writeFileAtomicSync() and openAtomic() through an idmapped mount never give the temporary file to 65534, the id it shows for an owner it does not map, and change nothing",
  {
    skip: process.getuid?.() !== 0
      ? "needs root: mounts, and an idmapped one"
      : hasCommand("unshare")
      ? false
      : "util-linux's unshare is not installed",
  },
  (t) => {
    // In a mount namespace of its own: the other suites running meanwhile
    // must not see an idmapped mount (65534 would be unknown to them too).
    withTempDir((base) => {
      const child = spawnSync("unshare", [
        "-m",
        "--propagation",
        "private",
        ...scriptCommand(path.join(root, "tests", "_idmap_child.ts"), [base]),
      ], { encoding: "utf8" });
      assert.equal(child.status, 0, child.stderr);
      const seen = JSON.parse(child.stdout);
      if (seen.skip) return skipTest(t, seen.skip);
      assert.equal(seen.shown, "65534:65534");
      // The kernel refuses to remove a file whose owner the mount does not
      // map (may_delete: EOVERFLOW).
      assert.deepEqual(Object.values(seen.codes), apis.map(() => "EOVERFLOW"));
      assert.deepEqual(
        seen.chowns.filter((ids: string) => ids.includes("65534")),
        [],
      );
      assert.equal(seen.after, "0:0 600");
      assert.equal(seen.content, "old");
      assert.deepEqual(seen.names, ["secret"]);
    });
  },
);

test("65534 counts as unknown in the initial user namespace only while the mount table lists an idmapped mount, which is read at most every 50 ms", async () => {
  const mount = (options: string) =>
    `42 26 0:38 / /srv/view ${options} - tmpfs tmpfs rw\n`;
  let table = mount("rw,relatime,idmapped");
  let reads = 0;
  const owners = new OwnerIds((file) => {
    if (file === "/proc/self/uid_map") {
      return "         0          0 4294967295\n";
    }
    if (file === "/proc/self/mountinfo") return reads++, table;
    throw new Error(`no ${file} here`);
  });
  assert.equal(owners.uid(65534), UNKNOWN_OWNER);
  assert.equal(owners.gid(65534), UNKNOWN_OWNER);
  assert.equal(owners.uid(1000), 1000);
  assert.equal(reads, 1);
  table = mount("rw,relatime");
  await new Promise((resolve) => setTimeout(resolve, 80));
  assert.equal(owners.uid(65534), 65534);
  assert.equal(owners.gid(65534), 65534);
  assert.equal(reads, 2);
});

test("65534 counts as unknown only for the call whose read of /proc/self/uid_map ran out of descriptors, then as nobody outside a user namespace", () => {
  let full = true;
  const owners = new OwnerIds((file) => {
    if (file === "/proc/self/uid_map") {
      if (full) {
        throw Object.assign(new Error("EMFILE: too many open files"), {
          code: "EMFILE",
        });
      }
      return "         0          0 4294967295\n";
    }
    if (file === "/proc/self/mountinfo") return "";
    throw new Error(`no ${file} here`);
  });
  assert.equal(owners.uid(65534), UNKNOWN_OWNER);
  full = false;
  assert.equal(owners.uid(65534), 65534);
  assert.equal(owners.gid(65534), 65534);
});
