// Step: token buckets (the service's, then the route's; inbound, the sidecar's own). An empty
// bucket answers 429 RL with Retry-After. The buckets outlive snapshots (policy/policy-state.ts).
import { ProxyError } from '../proxy/flags.ts';
import type { Exchange } from '../proxy/exchange.ts';
import type { TokenBucket } from '../policy/token-bucket.ts';
import { reject } from './reject.ts';
import type { ChainEnvironment, Step } from './step.ts';

export class RateLimitStep implements Step {
  readonly #env: ChainEnvironment;
  readonly #buckets: readonly TokenBucket[];
  readonly #subject: string;
  readonly #next: Step;

  constructor(env: ChainEnvironment, buckets: readonly TokenBucket[], subject: string, next: Step) {
    this.#env = env;
    this.#buckets = buckets;
    this.#subject = subject;
    this.#next = next;
  }

  run(exchange: Exchange): void {
    const buckets = this.#buckets;
    for (let i = 0; i < buckets.length; i++) {
      const bucket = buckets[i] as TokenBucket;
      if (bucket.tryTake()) continue;
      const error = new ProxyError('RL', `rate limit of ${bucket.ratePerSecond}/s for ${this.#subject} reached`);
      reject(this.#env, exchange, error, 'rate_limited', { 'retry-after': String(bucket.retryAfterSeconds()) });
      return;
    }
    this.#next.run(exchange);
  }
}
