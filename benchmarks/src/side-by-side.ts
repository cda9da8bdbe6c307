import { Bench } from "tinybench";

/** One side of a comparison: what is timed, one operation per call. */
export interface Contender {
  readonly name: string;
  readonly fn: () => unknown;
  /** Units of work per operation (rows in a batch, say), for throughput in units/s. */
  readonly unitsPerOp?: number;
}

export interface SideBySideResult {
  readonly baseline: string;
  readonly subject: string;
  /** subject throughput / baseline throughput, one value per round. */
  readonly throughputRatios: number[];
  readonly baselineOpsPerSec: number;
  readonly subjectOpsPerSec: number;
  readonly baselineNsPerOp: number;
  readonly subjectNsPerOp: number;
  readonly unitsPerOp: number;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

export function summarize(values: number[]) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

async function measure(contender: Contender, timeMs: number) {
  const bench = new Bench({ time: timeMs, warmupTime: Math.min(100, timeMs / 4) });
  bench.add(contender.name, contender.fn);
  await bench.run();
  const result = bench.tasks[0]?.result;
  if (!result || !("latency" in result)) {
    const error = result && "error" in result ? result.error : undefined;
    throw new Error(`benchmark "${contender.name}" failed: ${error?.message ?? result?.state}`);
  }
  return { opsPerSec: 1000 / result.latency.mean, nsPerOp: result.latency.mean * 1e6 };
}

/**
 * Measures a baseline and a subject in alternating rounds (A B, B A, A B, ...) after one
 * unrecorded warm-up round, so drift on a shared, noisy machine hits both sides alike.
 * The result is the per-round ratio, reported as median with min and max.
 */
export async function sideBySide(
  baseline: Contender,
  subject: Contender,
  options: { rounds?: number; timeMs?: number } = {},
): Promise<SideBySideResult> {
  const rounds = options.rounds ?? 6;
  const timeMs = options.timeMs ?? 500;
  await measure(baseline, timeMs / 2);
  await measure(subject, timeMs / 2);
  const ratios: number[] = [];
  const base: number[] = [];
  const subj: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const first = round % 2 === 0 ? baseline : subject;
    const second = first === baseline ? subject : baseline;
    const a = await measure(first, timeMs);
    const b = await measure(second, timeMs);
    const [baseResult, subjectResult] = first === baseline ? [a, b] : [b, a];
    base.push(baseResult.opsPerSec);
    subj.push(subjectResult.opsPerSec);
    ratios.push(subjectResult.opsPerSec / baseResult.opsPerSec);
  }
  const baselineOpsPerSec = median(base);
  const subjectOpsPerSec = median(subj);
  return {
    baseline: baseline.name,
    subject: subject.name,
    throughputRatios: ratios,
    baselineOpsPerSec,
    subjectOpsPerSec,
    baselineNsPerOp: 1e9 / baselineOpsPerSec,
    subjectNsPerOp: 1e9 / subjectOpsPerSec,
    unitsPerOp: subject.unitsPerOp ?? 1,
  };
}

/** Times one operation on its own: ns/op over several rounds (median, min, max). */
export async function nsPerOp(
  contender: Contender,
  options: { rounds?: number; timeMs?: number } = {},
) {
  const values: number[] = [];
  await measure(contender, (options.timeMs ?? 500) / 2);
  for (let round = 0; round < (options.rounds ?? 5); round++) {
    values.push((await measure(contender, options.timeMs ?? 500)).nsPerOp);
  }
  return summarize(values);
}

const fmt = (n: number, digits = 2) => n.toFixed(digits);

/** One line per comparison, in the form docs/benchmarks.md records. */
export function describeComparison(result: SideBySideResult, goal: string): string {
  const ratio = summarize(result.throughputRatios);
  const units = result.unitsPerOp;
  const perSec = (ops: number) => Math.round(ops * units).toLocaleString("en-US");
  return [
    `${result.subject} vs ${result.baseline}`,
    `  throughput ratio: median ${fmt(ratio.median)} (min ${fmt(ratio.min)}, max ${fmt(ratio.max)})  goal: ${goal}`,
    `  cost ratio (time/op): median ${fmt(1 / ratio.median)}`,
    `  ${result.baseline}: ${perSec(result.baselineOpsPerSec)} ${units > 1 ? "rows" : "ops"}/s (${fmt(result.baselineNsPerOp, 0)} ns/op)`,
    `  ${result.subject}: ${perSec(result.subjectOpsPerSec)} ${units > 1 ? "rows" : "ops"}/s (${fmt(result.subjectNsPerOp, 0)} ns/op)`,
  ].join("\n");
}
