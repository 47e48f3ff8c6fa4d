// Step: a slot among maxRequests, else a place among maxPending, else 503 UO. The slot is held
// until the exchange ends; a request that leaves the queue early gives its place back. The limiter
// outlives snapshots, so a push never resets what is in flight.
import type { ConcurrencyLimiter } from '../policy/concurrency-limiter.ts';
import type { Exchange, Resumable } from '../proxy/exchange.ts';
import { ProxyError } from '../proxy/flags.ts';
import { reject } from './reject.ts';
import type { ChainEnvironment, Step } from './step.ts';

export class ConcurrencyStep implements Step, Resumable {
  readonly #env: ChainEnvironment;
  readonly #limiter: ConcurrencyLimiter;
  readonly #subject: string;
  readonly #next: Step;
  /** Runs when the exchange ends: built once, not per request. */
  readonly #release = (exchange: Exchange): void => {
    if (exchange.parked === this) {
      exchange.parked = undefined;
      this.#limiter.cancel(exchange);
    } else this.#limiter.release();
  };

  constructor(env: ChainEnvironment, limiter: ConcurrencyLimiter, subject: string, next: Step) {
    this.#env = env;
    this.#limiter = limiter;
    this.#subject = subject;
    this.#next = next;
  }

  run(exchange: Exchange): void {
    const limiter = this.#limiter;
    const outcome = limiter.acquire(exchange);
    if (outcome === 'rejected') {
      const error = new ProxyError('UO', `${this.#subject} has ${limiter.maxRequests} requests in flight and ${limiter.maxPending} waiting`);
      reject(this.#env, exchange, error, 'overflow');
      return;
    }
    exchange.release = this.#release;
    if (outcome === 'granted') this.#next.run(exchange);
    else exchange.parked = this;
  }

  /** The limiter gave this queued exchange its slot. */
  resume(exchange: Exchange): void {
    // A client that left meanwhile: the exchange's end gives the slot back.
    if (!exchange.gone) this.#next.run(exchange);
  }
}
