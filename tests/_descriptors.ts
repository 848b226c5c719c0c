/**
 * A full descriptor table, for the children that run out of descriptors
 * (`_identity_child.ts`, `_full_table_child.ts`).
 */
import fs from "node:fs";

/** Opens `/dev/null` until the table is full, then closes `free` of them; returns those still open. */
export function fillDescriptors(free = 0): number[] {
  const held: number[] = [];
  for (;;) {
    try {
      held.push(fs.openSync("/dev/null", "r"));
    } catch {
      break;
    }
  }
  for (const fd of held.splice(held.length - free)) fs.closeSync(fd);
  return held;
}

/** Closes what {@linkcode fillDescriptors} opened. */
export function freeDescriptors(held: number[]): void {
  for (const fd of held) fs.closeSync(fd);
}
