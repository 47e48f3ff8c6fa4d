// Two counters over a sliding time window, kept in buckets that rotate as the clock moves (the
// retry budget counts requests and retries in one; a breaker, successes and failures). Adding and
// summing allocate nothing.
import type { Clock } from './clock.ts';

export const WINDOW_BUCKETS = 10;

export class SlidingWindow {
  readonly windowMs: number;
  readonly #clock: Clock;
  readonly #a = new Float64Array(WINDOW_BUCKETS);
  readonly #b = new Float64Array(WINDOW_BUCKETS);
  #bucket = 0;
  #bucketStart: number;

  constructor(windowMs: number, clock: Clock) {
    this.windowMs = windowMs;
    this.#clock = clock;
    this.#bucketStart = clock.now();
  }

  /** Counts one event of the first kind (requests, successes). */
  addA(): void {
    this.#rotate();
    this.#a[this.#bucket] = (this.#a[this.#bucket] as number) + 1;
  }

  /** Counts one event of the second kind (retries, failures). */
  addB(): void {
    this.#rotate();
    this.#b[this.#bucket] = (this.#b[this.#bucket] as number) + 1;
  }

  sumA(): number {
    this.#rotate();
    return sum(this.#a);
  }

  sumB(): number {
    this.#rotate();
    return sum(this.#b);
  }

  reset(): void {
    this.#a.fill(0);
    this.#b.fill(0);
  }

  #rotate(): void {
    const width = this.windowMs / WINDOW_BUCKETS;
    let steps = Math.floor((this.#clock.now() - this.#bucketStart) / width);
    if (steps <= 0) return;
    this.#bucketStart += steps * width;
    if (steps > WINDOW_BUCKETS) steps = WINDOW_BUCKETS;
    for (let i = 0; i < steps; i++) {
      this.#bucket = (this.#bucket + 1) % WINDOW_BUCKETS;
      this.#a[this.#bucket] = 0;
      this.#b[this.#bucket] = 0;
    }
  }
}

function sum(counts: Float64Array): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i] as number;
  return total;
}
