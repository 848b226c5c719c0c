/**
 * One error-code model for every adapter: the POSIX name (`ENOENT`, …) of
 * any error a runtime throws. Node and Bun name most errnos but give
 * `Unknown system error -67` for those libuv does not know; Deno names a few
 * and otherwise only says `(os error 67)`. Both are mapped here through one
 * table, so the same failure has the same code on every runtime.
 *
 * The table is the platform's own `os.constants.errno` (all three runtimes
 * provide it, with libuv's preferred names: `ENOTSUP`, `EAGAIN`), and on
 * Linux every errno the kernel defines, generated from its headers by
 * `.ci/errno_table.sh` (checked by `tests/errno_test.ts`).
 *
 * @module
 */
import os from "node:os";
import process from "node:process";
import { isNotUtf8Name } from "./_exact_name.ts";

/** Linux's errnos, from `<asm-generic/errno-base.h>` and `<asm-generic/errno.h>`. */
const LINUX_ERRNOS: readonly [number, string][] = [
  [1, "EPERM"],
  [2, "ENOENT"],
  [3, "ESRCH"],
  [4, "EINTR"],
  [5, "EIO"],
  [6, "ENXIO"],
  [7, "E2BIG"],
  [8, "ENOEXEC"],
  [9, "EBADF"],
  [10, "ECHILD"],
  [11, "EAGAIN"],
  [12, "ENOMEM"],
  [13, "EACCES"],
  [14, "EFAULT"],
  [15, "ENOTBLK"],
  [16, "EBUSY"],
  [17, "EEXIST"],
  [18, "EXDEV"],
  [19, "ENODEV"],
  [20, "ENOTDIR"],
  [21, "EISDIR"],
  [22, "EINVAL"],
  [23, "ENFILE"],
  [24, "EMFILE"],
  [25, "ENOTTY"],
  [26, "ETXTBSY"],
  [27, "EFBIG"],
  [28, "ENOSPC"],
  [29, "ESPIPE"],
  [30, "EROFS"],
  [31, "EMLINK"],
  [32, "EPIPE"],
  [33, "EDOM"],
  [34, "ERANGE"],
  [35, "EDEADLK"],
  [36, "ENAMETOOLONG"],
  [37, "ENOLCK"],
  [38, "ENOSYS"],
  [39, "ENOTEMPTY"],
  [40, "ELOOP"],
  [42, "ENOMSG"],
  [43, "EIDRM"],
  [44, "ECHRNG"],
  [45, "EL2NSYNC"],
  [46, "EL3HLT"],
  [47, "EL3RST"],
  [48, "ELNRNG"],
  [49, "EUNATCH"],
  [50, "ENOCSI"],
  [51, "EL2HLT"],
  [52, "EBADE"],
  [53, "EBADR"],
  [54, "EXFULL"],
  [55, "ENOANO"],
  [56, "EBADRQC"],
  [57, "EBADSLT"],
  [59, "EBFONT"],
  [60, "ENOSTR"],
  [61, "ENODATA"],
  [62, "ETIME"],
  [63, "ENOSR"],
  [64, "ENONET"],
  [65, "ENOPKG"],
  [66, "EREMOTE"],
  [67, "ENOLINK"],
  [68, "EADV"],
  [69, "ESRMNT"],
  [70, "ECOMM"],
  [71, "EPROTO"],
  [72, "EMULTIHOP"],
  [73, "EDOTDOT"],
  [74, "EBADMSG"],
  [75, "EOVERFLOW"],
  [76, "ENOTUNIQ"],
  [77, "EBADFD"],
  [78, "EREMCHG"],
  [79, "ELIBACC"],
  [80, "ELIBBAD"],
  [81, "ELIBSCN"],
  [82, "ELIBMAX"],
  [83, "ELIBEXEC"],
  [84, "EILSEQ"],
  [85, "ERESTART"],
  [86, "ESTRPIPE"],
  [87, "EUSERS"],
  [88, "ENOTSOCK"],
  [89, "EDESTADDRREQ"],
  [90, "EMSGSIZE"],
  [91, "EPROTOTYPE"],
  [92, "ENOPROTOOPT"],
  [93, "EPROTONOSUPPORT"],
  [94, "ESOCKTNOSUPPORT"],
  [95, "EOPNOTSUPP"],
  [96, "EPFNOSUPPORT"],
  [97, "EAFNOSUPPORT"],
  [98, "EADDRINUSE"],
  [99, "EADDRNOTAVAIL"],
  [100, "ENETDOWN"],
  [101, "ENETUNREACH"],
  [102, "ENETRESET"],
  [103, "ECONNABORTED"],
  [104, "ECONNRESET"],
  [105, "ENOBUFS"],
  [106, "EISCONN"],
  [107, "ENOTCONN"],
  [108, "ESHUTDOWN"],
  [109, "ETOOMANYREFS"],
  [110, "ETIMEDOUT"],
  [111, "ECONNREFUSED"],
  [112, "EHOSTDOWN"],
  [113, "EHOSTUNREACH"],
  [114, "EALREADY"],
  [115, "EINPROGRESS"],
  [116, "ESTALE"],
  [117, "EUCLEAN"],
  [118, "ENOTNAM"],
  [119, "ENAVAIL"],
  [120, "EISNAM"],
  [121, "EREMOTEIO"],
  [122, "EDQUOT"],
  [123, "ENOMEDIUM"],
  [124, "EMEDIUMTYPE"],
  [125, "ECANCELED"],
  [126, "ENOKEY"],
  [127, "EKEYEXPIRED"],
  [128, "EKEYREVOKED"],
  [129, "EKEYREJECTED"],
  [130, "EOWNERDEAD"],
  [131, "ENOTRECOVERABLE"],
  [132, "ERFKILL"],
  [133, "EHWPOISON"],
];

/**
 * Every (number, name) pair known here: the platform's first, then Linux's.
 * Where a number has two names, the first wins (`ENOTSUP` before
 * `EOPNOTSUPP`, as the runtimes say it).
 */
const ERRNOS: readonly [number, string][] = [
  ...Object.entries(os.constants.errno as Record<string, number>).map((
    [name, errno],
  ): [number, string] => [errno, name]),
  ...(process.platform === "linux" ? LINUX_ERRNOS : []),
];

/** The errno table: number to name. */
export const ERRNO_NAMES: ReadonlyMap<number, string> = new Map(
  ERRNOS.toReversed(),
);

/** The errno table: name to number, for every name (aliases too). */
export const ERRNO_NUMBERS: ReadonlyMap<string, number> = new Map(
  ERRNOS.toReversed().map(([errno, name]) => [name, errno]),
);

/**
 * Whether `error` is a permission the runtime itself withholds, raised
 * before any system call: Deno's `NotCapable`, when the process lacks an
 * `--allow-…` flag, which its message names; Node's `ERR_ACCESS_DENIED`
 * under its permission model (`--permission`), which also disables every
 * call on a descriptor that changes the file (`fsync`, `fchmod`, `fchown`)
 * and says so. It carries no system code; it counts as `EACCES`, with the
 * message as the reason.
 */
export function isWithheldPermission(error: unknown): boolean {
  return error instanceof Error &&
    (error.name === "NotCapable" ||
      (error as { code?: unknown }).code === "ERR_ACCESS_DENIED");
}

const POSIX_NAME = /^E[A-Z0-9]+$/;
const OS_ERROR = /\(os error (\d+)\)/;

/**
 * The POSIX name of the system error `error` carries: its `code` if that is
 * one, `EACCES` for a permission the runtime withholds, `EILSEQ` for Deno's
 * refusal of a name that is not UTF-8 (`_exact_name.ts`), else the name of
 * its errno (`error.errno`, or Deno's "(os error N)" in the message);
 * `undefined` if it carries none.
 */
export function posixCode(error: unknown): string | undefined {
  if (error === null || typeof error !== "object") return undefined;
  const { code, errno, message } = error as {
    code?: unknown;
    errno?: unknown;
    message?: unknown;
  };
  if (typeof code === "string" && POSIX_NAME.test(code)) return code;
  if (isWithheldPermission(error)) return "EACCES";
  if (isNotUtf8Name(error)) return "EILSEQ";
  if (typeof errno === "number" && errno !== 0) {
    const name = ERRNO_NAMES.get(Math.abs(errno));
    if (name !== undefined) return name;
  }
  const fromMessage = typeof message === "string"
    ? OS_ERROR.exec(message)?.[1]
    : undefined;
  if (fromMessage !== undefined) return ERRNO_NAMES.get(Number(fromMessage));
  return typeof code === "string" ? code : undefined;
}
