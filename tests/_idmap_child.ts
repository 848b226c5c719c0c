/**
 * Run in a mount namespace of its own (`unshare -m --propagation private`),
 * so that no other process sees its mounts: `_idmap_child.ts BASE` mounts a
 * tmpfs at `BASE/disk`, an idmapped view of it at `BASE/view` (on-disk owner
 * `CONTAINER + n` shows as `n`, see `mountIdmapped`), and puts in it a file
 * of the host's root, which the view shows as 65534's. Then it writes that
 * file through the view with each write API, and prints as JSON: each API's
 * error code, every chown the library made, and the file afterwards. Prints
 * `{"skip": reason}` where the mounts cannot be made.
 */
import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { apis, failureOf } from "./_apis.ts";
import { faultAdapter, ownership, using } from "./_fixtures.ts";
import { mountIdmapped, mountTmpfs } from "./_mounts.ts";
import { Skip } from "./_skip.ts";

/** What the view adds to an on-disk owner. */
const CONTAINER = 100_000;

const base = process.argv[2];
let disk;
let view;
try {
  disk = mountTmpfs("atomic-idmap", path.join(base, "disk"), "1m");
  view = mountIdmapped(disk.dir, path.join(base, "view"), CONTAINER);
} catch (error) {
  disk?.close();
  if (!(error instanceof Skip)) throw error;
  console.log(JSON.stringify({ skip: error.message }));
  process.exit(0);
}
try {
  // A directory of the container's root, holding a file of the host's root.
  const dir = path.join(disk.dir, "d");
  fs.mkdirSync(dir);
  fs.chownSync(dir, CONTAINER, CONTAINER);
  const secret = path.join(dir, "secret");
  fs.writeFileSync(secret, "old", { mode: 0o600 });
  const target = path.join(view.dir, "d", "secret");
  const shown = fs.statSync(target);
  const chowns: string[] = [];
  const adapter = faultAdapter([]);
  const [chown, chownAsync] = [adapter.sync.chown, adapter.async.chown];
  adapter.sync.chown = (file, p, uid, gid) => {
    chowns.push(`${uid}:${gid}`);
    chown(file, p, uid, gid);
  };
  adapter.async.chown = async (file, p, uid, gid) => {
    chowns.push(`${uid}:${gid}`);
    await chownAsync(file, p, uid, gid);
  };
  const codes: Record<string, unknown> = {};
  for (const api of apis) {
    const failed = await failureOf(() =>
      using(adapter, () => api.write(target, "new"))
    );
    codes[api.name] = (failed as { code?: unknown } | undefined)?.code ?? null;
  }
  console.log(JSON.stringify({
    shown: `${shown.uid}:${shown.gid}`,
    codes,
    chowns,
    after: ownership(secret),
    content: fs.readFileSync(secret, "utf8"),
    names: fs.readdirSync(dir),
  }));
} finally {
  view.close();
  disk.close();
}
