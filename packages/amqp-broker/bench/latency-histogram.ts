/**
 * Log-scale latency histogram: 16 buckets per power of two of microseconds (about 4.5 % resolution), so
 * client processes can record every message cheaply and the orchestrator can merge them.
 */
const STEPS_PER_OCTAVE = 16;
const BUCKETS = STEPS_PER_OCTAVE * 40;

export class LatencyHistogram {
  readonly counts: number[];

  constructor(counts?: readonly number[]) {
    this.counts = counts ? [...counts] : new Array<number>(BUCKETS).fill(0);
  }

  record(latencyMs: number, times = 1): void {
    const us = latencyMs * 1000;
    const i = us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log2(us) * STEPS_PER_OCTAVE));
    this.counts[i] = (this.counts[i] ?? 0) + times;
  }

  merge(other: LatencyHistogram): void {
    for (let i = 0; i < BUCKETS; i++) this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
  }

  get total(): number {
    return this.counts.reduce((a, b) => a + b, 0);
  }

  /** The upper bound of the bucket holding quantile `q` (0..1), in milliseconds; NaN when empty. */
  quantileMs(q: number): number {
    const total = this.total;
    if (total === 0) return Number.NaN;
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= q * total) return 2 ** ((i + 1) / STEPS_PER_OCTAVE) / 1000;
    }
    return Number.POSITIVE_INFINITY;
  }
}
