// An HTTPRoute rule's weighted backendRefs: each call (and each retry) picks a backend service with
// probability weight / total, then that service's own call target picks the endpoint (its own
// balancer and breakers). A backend of weight 0 gets nothing. The share of an invalid backendRef
// (a FailingCallTarget, answered 500) is drawn by first attempts only: the Gateway API gives that
// share of *requests* a 500, so a retry of a call that reached a valid backend draws among the valid
// ones, and never turns it into a 500.
import type { ProxyError } from '../proxy/flags.ts';
import type { Random } from '../policy/clock.ts';
import type { Destination, Endpoint } from '../upstream/endpoint.ts';
import { FailingCallTarget, type CallTarget } from './call-target.ts';

/** Targets and their cumulative weights, for one random draw per pick. */
interface Draw {
  readonly targets: readonly CallTarget[];
  readonly cumulative: readonly number[];
  readonly total: number;
}

function drawOf(backends: readonly { target: CallTarget; weight: number }[]): Draw {
  const live = backends.filter((b) => b.weight > 0);
  let sum = 0;
  return { targets: live.map((b) => b.target), cumulative: live.map((b) => (sum += b.weight)), total: sum };
}

export class WeightedCallTarget implements CallTarget {
  readonly #first: Draw;
  /** Retries: the valid backends only (the same as #first when none is invalid, or none is valid). */
  readonly #retry: Draw;
  readonly #random: Random;

  constructor(backends: readonly { target: CallTarget; weight: number }[], random: Random) {
    this.#first = drawOf(backends);
    const valid = drawOf(backends.filter((b) => !(b.target instanceof FailingCallTarget)));
    this.#retry = valid.total > 0 ? valid : this.#first;
    this.#random = random;
  }

  next(previous: Endpoint | undefined): Destination | ProxyError {
    const { targets, cumulative, total } = previous === undefined ? this.#first : this.#retry;
    if (targets.length === 1) return (targets[0] as CallTarget).next(previous);
    const draw = this.#random.next() * total;
    let i = 0;
    while (i < targets.length - 1 && draw >= (cumulative[i] as number)) i++;
    return (targets[i] as CallTarget).next(previous);
  }
}
