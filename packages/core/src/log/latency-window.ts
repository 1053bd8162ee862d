/** The last few thousand durations of something (here: group commits), for percentiles in stats. */
const SIZE = 4096;

export interface LatencySummary {
  /** Samples in the window (at most 4,096, the most recent). */
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

export class LatencyWindow {
  readonly #samples = new Float64Array(SIZE);
  #n = 0;

  add(ms: number): void {
    this.#samples[this.#n % SIZE] = ms;
    this.#n++;
  }

  summary(): LatencySummary {
    const count = Math.min(this.#n, SIZE);
    const sorted = this.#samples.slice(0, count).sort();
    const at = (p: number) =>
      count === 0 ? 0 : (sorted[Math.min(count - 1, Math.floor(count * p))] as number);
    return { count, p50Ms: at(0.5), p90Ms: at(0.9), p99Ms: at(0.99), maxMs: count === 0 ? 0 : at(1) };
  }
}
