/**
 * A case that cannot run on this machine, with the reason. The suites
 * outside `node:test` (torture, file systems) print it as SKIP and never
 * count it as passing.
 */
export class Skip extends Error {}

/** What `skipTest` needs of a `node:test` test context. */
export interface Skippable {
  readonly name: string;
  skip(message?: string): void;
}

/**
 * Skips the running test `t` for `reason`, where the reason is known only
 * inside the test (otherwise pass `{ skip: reason }` to `test()`). Deno counts
 * a test that calls `t.skip()` as passed and shows no reason, so this also
 * prints `SKIP <test name>: <reason>` to stderr, which `.ci/test.sh` counts as
 * skipped on Deno.
 */
export function skipTest(t: Skippable, reason: string): void {
  t.skip(reason);
  console.error(`SKIP ${t.name}: ${reason}`);
}
