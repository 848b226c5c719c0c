/**
 * A worker for `_lifecycle_host.ts`: receives TARGET, starts an atomic write of
 * it, posts back when its temporary file exists, and holds it open.
 */
import { startWrite } from "./_child.ts";

interface Port {
  postMessage(message: unknown): void;
  onmessage?: ((event: { data: unknown }) => void) | null;
  once?(event: "message", listener: (data: unknown) => void): void;
}

const { parentPort } = await import("node:worker_threads");
// Node: worker_threads' parentPort; Deno and Bun: the web worker's global scope.
const port: Port = (parentPort as Port | null) ??
  (globalThis as unknown as Port);

async function start(target: string): Promise<void> {
  await startWrite(target);
  port.postMessage("started");
  setInterval(() => {}, 1000);
}

if (port.once) port.once("message", (target) => void start(target as string));
else port.onmessage = (event) => void start(event.data as string);
