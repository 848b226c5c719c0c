/**
 * A case that cannot run on this machine, with the reason. The suites
 * outside `node:test` (torture, file systems) print it as SKIP and never
 * count it as passing.
 */
export class Skip extends Error {}
