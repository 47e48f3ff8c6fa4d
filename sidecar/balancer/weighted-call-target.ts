// An HTTPRoute rule's weighted backendRefs: each call (and each retry) picks a backend service with
// probability weight / total, then that service's own call target picks the endpoint (its own
// balancer and breakers). A backend of weight 0 gets nothing.
import type { ProxyError } from '../proxy/flags.ts';
import type { Random } from '../policy/clock.ts';
import type { Destination, Endpoint } from '../upstream/endpoint.ts';
import type { CallTarget } from './call-target.ts';

export class WeightedCallTarget implements CallTarget {
  readonly #targets: readonly CallTarget[];
  /** Cumulative weights, for one random draw per pick. */
  readonly #cumulative: readonly number[];
  readonly #total: number;
  readonly #random: Random;

  constructor(backends: readonly { target: CallTarget; weight: number }[], random: Random) {
    const live = backends.filter((b) => b.weight > 0);
    this.#targets = live.map((b) => b.target);
    let sum = 0;
    this.#cumulative = live.map((b) => (sum += b.weight));
    this.#total = sum;
    this.#random = random;
  }

  next(previous: Endpoint | undefined): Destination | ProxyError {
    const targets = this.#targets;
    if (targets.length === 1) return (targets[0] as CallTarget).next(previous);
    const draw = this.#random.next() * this.#total;
    let i = 0;
    while (i < targets.length - 1 && draw >= (this.#cumulative[i] as number)) i++;
    return (targets[i] as CallTarget).next(previous);
  }
}
