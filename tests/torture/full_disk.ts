/**
 * Full disk: on a really full 256 KiB tmpfs a 1 MiB write fails with ENOSPC,
 * the old bytes stay, no temporary file is left and every block it took is
 * free again; a write that uses exactly the free space succeeds and frees
 * the old file's blocks.
 */
import fs from "node:fs";
import path from "node:path";
import { type Mount, mountTmpfs } from "../_mounts.ts";
import type { Api } from "./_child.ts";
import {
  APIS,
  describeFailure,
  expect,
  KiB,
  MiB,
  noTemps,
  readOrNull,
  runJob,
  type Runtime,
  shaOf,
} from "./_harness.ts";
import { checkPayload, makePayload, sha256 } from "./_payload.ts";
import type { Family, Suite } from "../_suite.ts";

function freeBlocks(
  dir: string,
): { free: number; size: number; total: number } {
  const s = fs.statfsSync(dir);
  return { free: s.bavail, size: s.bsize, total: s.blocks };
}

/** Runs `fn` in a fresh directory on the mount, removed afterwards. */
async function inFreshDir(
  mount: Mount,
  api: Api,
  fn: (dir: string) => Promise<string>,
): Promise<string> {
  const dir = path.join(mount.dir, api);
  fs.mkdirSync(dir);
  try {
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A 1 MiB write on a 256 KiB tmpfs: ENOSPC, old bytes intact, no temp, space back. */
function fullDiskCase(rt: Runtime, api: Api, mount: Mount): Promise<string> {
  return inFreshDir(mount, api, async (dir) => {
    const target = path.join(dir, "data.bin");
    const old = makePayload("old", 0, 16 * KiB);
    fs.writeFileSync(target, old);
    const before = freeBlocks(mount.dir);
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
    noTemps(dir, result);
    const after = freeBlocks(mount.dir);
    expect(
      after.free === before.free,
      `${before.free - after.free} blocks not freed`,
    );
    return `ENOSPC from "${result.operation}", old bytes intact, no temp, all ${before.free} free blocks back`;
  });
}

/** A write that uses every free block: it succeeds and the old file's space is freed. */
function justFitsCase(rt: Runtime, api: Api, mount: Mount): Promise<string> {
  return inFreshDir(mount, api, async (dir) => {
    const target = path.join(dir, "data.bin");
    const empty = freeBlocks(mount.dir).free;
    fs.writeFileSync(target, makePayload("old", 0, 16 * KiB));
    const { free, size: block } = freeBlocks(mount.dir);
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
    noTemps(dir, result);
    const after = freeBlocks(mount.dir);
    expect(
      after.free === empty - free,
      `${after.free} blocks free after, expected the old file's ${
        empty - free
      }`,
    );
    return `${size} B (every free block) written, the old file's ${after.free} blocks freed, no temp`;
  });
}

/** Each runtime's own 256 KiB tmpfs, mounted when its first case runs. */
function tmpfsOf(suite: Suite, rt: Runtime): Promise<Mount> {
  return suite.once(
    `tmpfs-${rt.name}`,
    () =>
      suite.adopt(mountTmpfs("torture", suite.mkdir("tmpfs", rt.name), "256k")),
  );
}

/** Both cases per API, each runtime on its own tmpfs. */
export const fullDisk: Family = {
  id: "full-disk",
  proves:
    "a full disk gives ENOSPC with the old bytes intact and every block back; a write that just fits succeeds",
  cases: (suite, rt) =>
    APIS.flatMap((api) => [
      {
        name: `ENOSPC on a full tmpfs ${rt.name}/${api}`,
        run: async () => fullDiskCase(rt, api, await tmpfsOf(suite, rt)),
      },
      {
        name: `write that just fits ${rt.name}/${api}`,
        run: async () => justFitsCase(rt, api, await tmpfsOf(suite, rt)),
      },
    ]),
};
