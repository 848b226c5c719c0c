/**
 * Reading the umask. The umask(2) call that runtimes use to read it sets the
 * mask to 0 and back, and any file another thread creates in between (a
 * thread-pool open, for one) escapes the mask. Linux shows the mask in
 * /proc/self/status without touching it; that is read first.
 */

const LINE = /^Umask:\s*([0-7]+)$/m;

/** The umask from /proc/self/status, read with `readText`; `null` if that fails. */
export function umaskFromProc(
  readText: (path: string) => string,
): number | null {
  try {
    const match = LINE.exec(readText("/proc/self/status"));
    return match ? parseInt(match[1], 8) : null;
  } catch {
    return null;
  }
}
