// Round-robin over a fixed endpoint list.
import type { Endpoint } from '../upstream/endpoint.ts';
import type { Balancer } from './balancer.ts';

export class RoundRobinBalancer implements Balancer {
  readonly #endpoints: readonly Endpoint[];
  #next = 0;

  constructor(endpoints: readonly Endpoint[]) {
    this.#endpoints = endpoints;
  }

  pick(avoid?: Endpoint): Endpoint | undefined {
    const n = this.#endpoints.length;
    if (n === 0) return undefined;
    let chosen = this.#endpoints[this.#next % n] as Endpoint;
    this.#next = (this.#next + 1) % n;
    if (chosen === avoid && n > 1) {
      chosen = this.#endpoints[this.#next % n] as Endpoint;
      this.#next = (this.#next + 1) % n;
    }
    return chosen;
  }
}
