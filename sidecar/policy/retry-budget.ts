// A retry budget (as in Linkerd and Finagle): retries may add at most `ratio` of the request rate,
// with a floor of `minPerSecond`, measured over a sliding window. It stops retry storms: when a
// service is down, retries stop at the budget instead of multiplying the load by `attempts`.
import type { Clock } from './clock.ts';

/** Defaults: retries may add 20% load, at least 10 retries a second, over 10 s. */
export const DEFAULT_BUDGET = { ratio: 0.2, minPerSecond: 10, windowMs: 10_000 };
const BUCKETS = 10;

export class RetryBudget {
  readonly ratio: number;
  readonly minPerSecond: number;
  readonly windowMs: number;
  readonly #clock: Clock;
  readonly #requests = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);
  #bucket = 0;
  #bucketStart: number;

  constructor(ratio: number, minPerSecond: number, clock: Clock, windowMs = DEFAULT_BUDGET.windowMs) {
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
    this.windowMs = windowMs;
    this.#clock = clock;
    this.#bucketStart = clock.now();
  }

  /** Counts an original request (not a retry). */
  recordRequest(): void {
    this.#rotate();
    this.#requests[this.#bucket] = (this.#requests[this.#bucket] as number) + 1;
  }

  /** Takes one retry from the budget; false when the budget is spent. */
  tryRetry(): boolean {
    this.#rotate();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      requests += this.#requests[i] as number;
      retries += this.#retries[i] as number;
    }
    const allowed = Math.max(this.minPerSecond * (this.windowMs / 1000), this.ratio * requests);
    if (retries + 1 > allowed) return false;
    this.#retries[this.#bucket] = (this.#retries[this.#bucket] as number) + 1;
    return true;
  }

  #rotate(): void {
    const width = this.windowMs / BUCKETS;
    const now = this.#clock.now();
    let steps = Math.floor((now - this.#bucketStart) / width);
    if (steps <= 0) return;
    this.#bucketStart += steps * width;
    if (steps > BUCKETS) steps = BUCKETS;
    for (let i = 0; i < steps; i++) {
      this.#bucket = (this.#bucket + 1) % BUCKETS;
      this.#requests[this.#bucket] = 0;
      this.#retries[this.#bucket] = 0;
    }
  }
}
