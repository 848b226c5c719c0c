/** How old a leftover is, for the sweep. */
import type { EntryInfo } from "./runtime/types.ts";

/**
 * Whether `entry` is younger than `age` ms at `now`. An age of 0 means at
 * once: even a file whose time lies in the future (a clock set back since,
 * a file server's clock ahead) is old enough.
 */
export function isYounger(entry: EntryInfo, now: number, age: number): boolean {
  return age > 0 && now - entry.mtimeMs < age;
}
