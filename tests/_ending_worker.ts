/**
 * A `node:worker_threads` worker for `worker_test.ts`: in the directory its
 * `workerData` names, makes a file with `makeTempFile()` and takes the lock
 * of `f`, then posts `ready` and ends by reaching the end of its program.
 */
import { parentPort, workerData } from "node:worker_threads";
import { lockFile, makeTempFile } from "../mod.ts";

const dir = workerData as string;
await makeTempFile({ dir, prefix: "mine-" });
await lockFile(`${dir}/f`);
parentPort?.postMessage("ready");
