import { posixCode } from "./runtime/_errno.ts";

/**
 * The system error code (`ENOENT`, `EEXIST`, …) an error carries, the same
 * on every runtime (see `runtime/_errno.ts`), or `undefined`.
 */
export function errorCode(error: unknown): string | undefined {
  return posixCode(error);
}

/**
 * {@linkcode errorCode}, or `EIO` for an error without one: what a failed
 * step reports when the runtime gave no system code.
 */
export function codeOf(error: unknown): string {
  return posixCode(error) ?? "EIO";
}
