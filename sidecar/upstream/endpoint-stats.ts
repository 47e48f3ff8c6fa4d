// Load signals of one endpoint for the balancers: requests in flight and a peak-sensitive EWMA of
// latency (Finagle's and Linkerd's peak EWMA): a slower response raises the average at once, faster
// ones lower it gradually with a 10 s time constant.
import type { Clock } from '../policy/clock.ts';

/** Time constant of the latency average. */
export const EWMA_DECAY_MS = 10_000;
/** What an endpoint is assumed to cost before its first response. */
export const EWMA_PRIOR_MS = 1;

export class EndpointStats {
  inflight = 0;
  /** Attempts that settled here (latencies observed): a sidecar reports only endpoints it called (`petrel describe`). */
  observed = 0;
  #ewmaMs = EWMA_PRIOR_MS;
  #stamp: number;
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
    this.#stamp = clock.now();
  }

  get ewmaMs(): number {
    return this.#ewmaMs;
  }

  observe(latencyMs: number): void {
    this.observed++;
    const now = this.#clock.now();
    const elapsed = Math.max(0, now - this.#stamp);
    this.#stamp = now;
    if (latencyMs > this.#ewmaMs) this.#ewmaMs = latencyMs;
    else {
      const w = Math.exp(-elapsed / EWMA_DECAY_MS);
      this.#ewmaMs = this.#ewmaMs * w + latencyMs * (1 - w);
    }
  }

  /** Peak-EWMA cost: latency times the requests that would wait behind this one. */
  cost(): number {
    return this.#ewmaMs * (this.inflight + 1);
  }
}
