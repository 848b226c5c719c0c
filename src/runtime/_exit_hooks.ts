/**
 * How the library cleans up when the process (or worker) ends: a design note.
 *
 * ## The rule
 * The library is a guest in someone else's program. It never changes how
 * the process reacts to a signal: what SIGINT, SIGTERM or SIGHUP did before
 * the first call, it still does after. A temporary file it made is removed
 * on every way out that runs JavaScript, or else it is provably sweepable
 * afterwards by `removeStaleTemps`.
 *
 * ## Why no signal listener at all
 * On Node and Bun, adding a listener for a signal replaces the default
 * action (end the process) with "call the listeners". A library that
 * listens must then guess whether someone else will end the process, and
 * every guess breaks a real program:
 * - "Re-raise when I am the only listener" (the library's old way, and
 *   signal-exit v4's) deadlocks with signal-exit: each sees the other's
 *   listener and steps aside, so SIGTERM, SIGINT and SIGHUP end nothing.
 * - A host handler added with `process.once` has removed itself by the time
 *   a later listener runs, so the library thinks it is alone, re-raises,
 *   and kills the host in the middle of its graceful shutdown.
 * - A signal ignored at start (`nohup` ignores SIGHUP) is no longer ignored
 *   once Bun installs a handler for the listener, so re-raising kills it.
 * - Deno cannot count signal listeners (`Deno.addSignalListener` has no
 *   count), so it cannot even guess.
 * Only registering no signal listener keeps the rule in every one of these
 * programs: signal-exit (v3 and v4) then sees only its own listeners and
 * re-raises as if we were not there, and a host's `process.on` or
 * `process.once` handler runs alone. So the library never listens to a signal. A signal's default
 * action ends the process without running JavaScript, exactly like
 * SIGKILL; a host that handles the signal and then exits runs the exit hook
 * below, so its in-flight temporary files are removed then.
 *
 * ## What runs instead
 * While at least one temporary file exists (never otherwise, so that
 * `removeStaleTemps` alone installs nothing), one listener per thread:
 * - Node and Bun: `process.on("exit")`. It runs on `process.exit()`, on the
 *   event loop running dry, on an uncaught exception and on an unhandled
 *   rejection. In a worker it is the worker's own `process`.
 * - Deno: `unload` (`Deno.exit()`, the end of the program), and in a
 *   worker `process.on("exit")` (a `node:worker_threads` worker that
 *   reaches its end fires only that), plus `error` and `unhandledrejection`, which Deno
 *   dispatches before dying of an uncaught exception or rejection without
 *   firing `unload`. Those two clean up only
 *   if no listener before them called `preventDefault()` (the process will
 *   then die). The listeners are re-added whenever the first temporary file
 *   appears, so that host listeners added earlier run first; a host
 *   listener added while a write is in flight that prevents the default
 *   would find that write failing.
 *
 * ## What is left behind, and why it is sweepable
 * A signal's default action, SIGKILL, a crash of the runtime, a power cut,
 * and a worker ended by `terminate()` (or with its process) run no
 * JavaScript in the writing thread. Their temporary files carry the
 * writer's identity (boot, PID namespace, process, thread and its start
 * time: see `_writer_identity.ts`), so `removeStaleTemps` proves the writer
 * gone and removes them; where the identity cannot be read, age decides.
 *
 * @module
 */
import process from "node:process";
import { isMainThread } from "node:worker_threads";

/** Registers `cleanup` for the ways out of this thread that run JavaScript; returns the unregister function. */
export type OnExit = (cleanup: () => void) => () => void;

/** Node and Bun: the thread's `process` "exit" event. */
export const onProcessExit: OnExit = (cleanup) => {
  const listener = () => cleanup();
  process.on("exit", listener);
  return () => void process.removeListener("exit", listener);
};

/**
 * Deno: `unload`, and the uncaught `error` and `unhandledrejection` events
 * that end the program: not those a listener prevented, nor those that a
 * Node-style handler takes (`process.on("uncaughtException")`,
 * `process.on("unhandledRejection")`), which keeps the program alive too
 * but runs after this listener, without marking the event prevented.
 */
export const onUnload: OnExit = (cleanup) => {
  const onEnd = () => cleanup();
  const onUncaughtBy = (handler: string) => (event: Event) => {
    if (!event.defaultPrevented && process.listenerCount(handler) === 0) {
      cleanup();
    }
  };
  const onUncaught = onUncaughtBy("uncaughtException");
  const onRejection = onUncaughtBy("unhandledRejection");
  globalThis.addEventListener("unload", onEnd);
  // A `node:worker_threads` worker that reaches the end of its program
  // fires no `unload`, only this (where it comes with `unload`, the
  // cleanup's second run finds nothing left).
  if (!isMainThread) process.on("exit", onEnd);
  globalThis.addEventListener("error", onUncaught);
  globalThis.addEventListener("unhandledrejection", onRejection);
  return () => {
    globalThis.removeEventListener("unload", onEnd);
    if (!isMainThread) process.removeListener("exit", onEnd);
    globalThis.removeEventListener("error", onUncaught);
    globalThis.removeEventListener("unhandledrejection", onRejection);
  };
};
