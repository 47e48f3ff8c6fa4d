// Power of two choices (Mitzenmacher): draw two available endpoints at random, take the cheaper.
// With cost = requests in flight it is least-request; with cost = peak EWMA latency x (in flight + 1)
// it is Linkerd's default balancer, which moves load away from slow endpoints within a few requests.
import type { Random } from '../policy/clock.ts';
import type { Endpoint } from '../upstream/endpoint.ts';
import type { Balancer } from './balancer.ts';

export type CostFunction = (endpoint: Endpoint) => number;

export const leastRequestCost: CostFunction = (e) => e.stats.inflight;
export const peakEwmaCost: CostFunction = (e) => e.stats.cost();

export class PowerOfTwoBalancer implements Balancer {
  readonly #endpoints: readonly Endpoint[];
  readonly #cost: CostFunction;
  readonly #random: Random;

  constructor(endpoints: readonly Endpoint[], cost: CostFunction, random: Random) {
    this.#endpoints = endpoints;
    this.#cost = cost;
    this.#random = random;
  }

  pick(avoid?: Endpoint): Endpoint | undefined {
    return this.#pick(avoid, true);
  }

  pickAny(avoid?: Endpoint): Endpoint | undefined {
    return this.#pick(avoid, false);
  }

  #pick(avoid: Endpoint | undefined, onlyAvailable: boolean): Endpoint | undefined {
    const a = this.#draw(avoid, undefined, onlyAvailable);
    if (a === undefined) return avoid !== undefined && (!onlyAvailable || avoid.available()) ? avoid : undefined;
    const b = this.#draw(avoid, a, onlyAvailable);
    if (b === undefined) return a;
    return this.#cost(b) < this.#cost(a) ? b : a;
  }

  /** An endpoint other than `avoid` and `not` (available, when asked), scanning from a random start. */
  #draw(avoid: Endpoint | undefined, not: Endpoint | undefined, onlyAvailable: boolean): Endpoint | undefined {
    const n = this.#endpoints.length;
    if (n === 0) return undefined;
    const start = Math.floor(this.#random.next() * n);
    for (let i = 0; i < n; i++) {
      const e = this.#endpoints[(start + i) % n] as Endpoint;
      if (e !== avoid && e !== not && (!onlyAvailable || e.available())) return e;
    }
    return undefined;
  }
}
