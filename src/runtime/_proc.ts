/**
 * Facts Linux shows under /proc, read as text without side effects: who the
 * process writes as (`/proc/self/status`, a fallback for Deno's `uid()`;
 * Deno reads /proc only with `--allow-all`) and the kernel's
 * sticky-directory protections (`/proc/sys/fs/protected_*`).
 */
import type { ProcessIds, StickyProtections } from "./types.ts";

/** Reads a whole text file; throws if it cannot. */
export type ReadText = (path: string) => string;

const FS_IDS =
  /^Uid:\s+\d+\s+\d+\s+\d+\s+(\d+)$[\s\S]*^Gid:\s+\d+\s+\d+\s+\d+\s+(\d+)$/m;

/** The file-system user and group (what the kernel checks access with); `null` if unreadable. */
export function idsFromProc(readText: ReadText): ProcessIds | null {
  try {
    const match = FS_IDS.exec(readText("/proc/self/status"));
    return match ? { uid: Number(match[1]), gid: Number(match[2]) } : null;
  } catch {
    return null;
  }
}

function sysctl(readText: ReadText, name: string): number | null {
  try {
    const value = Number.parseInt(readText(`/proc/sys/fs/${name}`), 10);
    return Number.isNaN(value) ? null : value;
  } catch {
    return null;
  }
}

/** `fs.protected_symlinks` and `fs.protected_regular`, each `null` where unreadable. */
export function protectionsFromProc(readText: ReadText): StickyProtections {
  return {
    symlinks: sysctl(readText, "protected_symlinks"),
    regular: sysctl(readText, "protected_regular"),
  };
}
