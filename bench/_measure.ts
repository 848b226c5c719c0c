/**
 * Interleaved, paired measurement. Every contender of a case runs one sample
 * per round, in an order that rotates from round to round, so that a slow
 * patch of a noisy machine hits all of them alike; ratios are taken within a
 * round (paired) and the median over rounds is reported.
 */

/** One contender: `run(i)` performs the `i`-th operation of a sample. */
export interface Contender {
  readonly name: string;
  readonly run: (i: number) => Promise<void> | void;
}

/** What one case measured: per contender, seconds per operation in each round. */
export interface Samples {
  readonly ops: number;
  readonly seconds: Record<string, number[]>;
}

/** The median of `values` (NaN if there are none). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid]
    : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function sample(contender: Contender, ops: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < ops; i++) {
    const pending = contender.run(i);
    if (pending !== undefined) await pending;
  }
  return (performance.now() - start) / 1000;
}

/** How to size a case: the time one sample should take and how many rounds to run. */
export interface Plan {
  readonly sampleMs: number;
  readonly rounds: number;
  readonly maxOps: number;
}

/**
 * Measures `contenders` against each other. The first contender is the
 * reference that sizes the samples: a warm-up round times one operation of
 * each, then every sample runs as many operations as the reference needs to
 * fill `plan.sampleMs`.
 */
export async function measure(
  contenders: readonly Contender[],
  plan: Plan,
): Promise<Samples> {
  // Warm-up: JIT, file creation, directory entries; also sizes the samples.
  let reference = Infinity;
  for (const contender of contenders) {
    await sample(contender, 2);
    const t = await sample(contender, 3) / 3;
    if (contender === contenders[0]) reference = t;
  }
  const ops = Math.max(
    1,
    Math.min(plan.maxOps, Math.round(plan.sampleMs / 1000 / reference)),
  );
  const seconds: Record<string, number[]> = {};
  for (const contender of contenders) seconds[contender.name] = [];
  for (let round = 0; round < plan.rounds; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const contender = contenders[(round + k) % contenders.length];
      seconds[contender.name].push(await sample(contender, ops) / ops);
    }
  }
  return { ops, seconds };
}

/**
 * Throughput of `a` relative to `b` (above 1: `a` is faster), as the median
 * of the per-round ratios.
 */
export function pairedRatio(samples: Samples, a: string, b: string): number {
  const ta = samples.seconds[a];
  const tb = samples.seconds[b];
  if (!ta || !tb) return NaN;
  return median(ta.map((t, i) => tb[i] / t));
}
