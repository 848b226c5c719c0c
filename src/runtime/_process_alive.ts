/** Whether a process exists, for every runtime (Deno's `node:process` maps signal 0 too). */
import process from "node:process";
import { errorCode } from "../_error_code.ts";

/** Whether a process with this id is alive on this machine (EPERM: alive, not ours). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === "EPERM";
  }
}
