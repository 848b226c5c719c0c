import fs from "node:fs"; import os from "node:os"; import path from "node:path"; import process from "node:process";
const [oldMod, newMod] = await Promise.all([import(process.argv[2]), import(process.argv[3])]);
const existing = process.argv[4] === "existing";
async function run(mod: any, n: number, sync: boolean) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "first-"));
  if (existing) for (let i = 0; i < n; i++) fs.writeFileSync(path.join(dir, `f${i}.json`), "old");
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    const f = path.join(dir, `f${i}.json`);
    if (sync) mod.writeFileAtomicSync(f, "x".repeat(100), { fsync: false });
    else await mod.writeFileAtomic(f, "x".repeat(100), { fsync: false });
  }
  const ms = performance.now() - t;
  fs.rmSync(dir, { recursive: true });
  return ms;
}
for (const sync of [true, false]) {
  const r: number[] = [];
  for (let j = 0; j < 14; j++) {
    if (j % 2) { const b = await run(newMod, 300, sync); const a = await run(oldMod, 300, sync); r.push(b / a); }
    else { const a = await run(oldMod, 300, sync); const b = await run(newMod, 300, sync); r.push(b / a); }
  }
  r.sort((x, y) => x - y); console.log(`first writes (${existing ? "existing" : "new"} files), ${sync ? "sync" : "async"}: new/old median ${((r[6] + r[7]) / 2).toFixed(3)} [${r.map((x) => x.toFixed(2)).join(" ")}]`);
}
