/** Sources for streaming writes, shared by the unit suite and the file-system matrix. */

/**
 * Two 100 KB chunks, with `controller` aborted with `reason` between them:
 * a write that is cancelled while it streams.
 */
export async function* abortingMidStream(
  controller: AbortController,
  reason: unknown,
): AsyncGenerator<string> {
  yield "x".repeat(100_000);
  controller.abort(reason);
  yield "y".repeat(100_000);
}
