import { posixCode } from "./runtime/_errno.ts";

/**
 * The system error code (`ENOENT`, `EEXIST`, …) an error carries, the same
 * on every runtime (see `runtime/_errno.ts`), or `undefined`.
 */
export function errorCode(error: unknown): string | undefined {
  return posixCode(error);
}
