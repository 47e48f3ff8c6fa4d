// Issuance is rate-limited per identity: a sidecar renews at 70% of a 24h lifetime, so anything close
// to 10 requests in a burst is a loop or an attack, and signing costs the control plane CPU that
// every other sidecar's renewal needs. A token bucket per identity (sidecar/policy/token-bucket.ts):
// burst 10, then 1 per second. Buckets that have refilled are forgotten, so memory follows the
// number of identities requesting right now, not every identity ever seen.
import type { Clock } from '../../sidecar/policy/clock.ts';
import { TokenBucket } from '../../sidecar/policy/token-bucket.ts';

export const ISSUANCE_BURST = 10;
export const ISSUANCE_PER_SECOND = 1;
/** Sweep idle buckets once the map holds this many. */
const SWEEP_AT = 1024;

export type RateDecision = { ok: true } | { ok: false; retryAfterSeconds: number };

export class IssuanceRateLimit {
  readonly #buckets = new Map<string, { bucket: TokenBucket; last: number }>();
  readonly #clock: Clock;
  readonly #burst: number;
  readonly #perSecond: number;

  /** `now`: milliseconds on any steady scale (wall clock in production, a fake one in tests). */
  constructor(now: () => number = Date.now, burst = ISSUANCE_BURST, perSecond = ISSUANCE_PER_SECOND) {
    // The bucket reads only now(); it never sets timers.
    this.#clock = { now, setTimeout: () => undefined, clearTimeout: () => undefined };
    this.#burst = burst;
    this.#perSecond = perSecond;
  }

  take(identity: string): RateDecision {
    const now = this.#clock.now();
    if (this.#buckets.size >= SWEEP_AT) this.#sweep(now);
    let entry = this.#buckets.get(identity);
    if (entry === undefined) this.#buckets.set(identity, (entry = { bucket: new TokenBucket(this.#perSecond, this.#burst, this.#clock), last: now }));
    entry.last = now;
    return entry.bucket.tryTake() ? { ok: true } : { ok: false, retryAfterSeconds: entry.bucket.retryAfterSeconds() };
  }

  /** Buckets untouched long enough to be full again are the same as new ones. */
  #sweep(now: number): void {
    const fullAfterMs = (this.#burst / this.#perSecond) * 1000;
    for (const [id, e] of this.#buckets) if (now - e.last >= fullAfterMs) this.#buckets.delete(id);
  }
}
