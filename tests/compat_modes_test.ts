/**
 * Side by side with the real packages: a config store's life (create with
 * the default mode, update, `chmod 600` by the user, rewrite) ends with the
 * same permission bits through the compat entry point as through the peer.
 * A naive swap (passing conf's `mode: 0o666` to the core) would leave the
 * file world-writable; this is the test that notices.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as atomicallyPeer from "atomically";
import writeFileAtomicPeer from "write-file-atomic";
import * as atomically from "../src/compat/atomically.ts";
import writeFileAtomic from "../src/compat/write_file_atomic.ts";
import { withTempDir } from "./_fixtures.ts";
import { modeOf } from "./_compat.ts";

type Write = (file: string, data: string, options?: object) => unknown;

/** The bits after each step of a config store's life, written with `write`. */
async function lifeOfAConfig(
  dir: string,
  write: Write,
  options?: object,
): Promise<Record<string, number>> {
  const file = path.join(dir, "config.json");
  const modes: Record<string, number> = {};
  await write(file, "{}", options);
  modes.created = modeOf(file);
  await write(file, '{"theme":"dark"}', options);
  modes.updated = modeOf(file);
  fs.chmodSync(file, 0o600);
  await write(file, '{"theme":"light"}', options);
  modes.rewrittenAfterChmod600 = modeOf(file);
  return modes;
}

const pairs: [string, Write, Write][] = [
  [
    "atomically writeFileSync()",
    atomicallyPeer.writeFileSync as Write,
    atomically.writeFileSync as Write,
  ],
  [
    "atomically writeFile()",
    atomicallyPeer.writeFile as Write,
    atomically.writeFile as Write,
  ],
  [
    "write-file-atomic sync()",
    writeFileAtomicPeer.sync as Write,
    writeFileAtomic.sync as Write,
  ],
  [
    "write-file-atomic writeFile()",
    writeFileAtomicPeer as Write,
    writeFileAtomic as Write,
  ],
];

// conf passes `mode: configFileMode` on every write (default 0o666).
const settings: [string, object | undefined][] = [
  ["no mode", undefined],
  ["conf's default mode 0o666", { mode: 0o666 }],
  ["mode 0o600", { mode: 0o600 }],
  ["mode false", { mode: false }],
  // A whole stat.mode, as write-file-atomic copies it: its permission bits.
  ["a whole stat.mode 0o100640", { mode: 0o100640 }],
  // atomically compares the number 0o666 only: the strings apply exactly.
  ['mode "666"', { mode: "666" }],
  ['mode "0"', { mode: "0" }],
];

for (const [name, peer, ours] of pairs) {
  for (const [setting, options] of settings) {
    // write-file-atomic documents `mode: false` as "the system default
    // permissions" and so do we, but its own code disagrees with itself:
    // writeFile() throws ERR_INVALID_ARG_TYPE, sync() keeps the old bits.
    if (name.startsWith("write-file-atomic") && setting === "mode false") {
      continue;
    }
    test(`${name} with ${setting} gives a config file the same modes as the package`, async () => {
      await withTempDir(async (dir) => {
        const peerDir = path.join(dir, "peer");
        const ourDir = path.join(dir, "ours");
        fs.mkdirSync(peerDir);
        fs.mkdirSync(ourDir);
        const expected = await lifeOfAConfig(peerDir, peer, options);
        const actual = await lifeOfAConfig(ourDir, ours, options);
        assert.deepEqual(actual, expected);
      });
    });
  }
}
