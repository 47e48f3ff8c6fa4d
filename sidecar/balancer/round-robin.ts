// Round-robin over the endpoints that are available.
import type { Endpoint } from '../upstream/endpoint.ts';
import type { Balancer } from './balancer.ts';

export class RoundRobinBalancer implements Balancer {
  readonly #endpoints: readonly Endpoint[];
  #next = 0;

  constructor(endpoints: readonly Endpoint[]) {
    this.#endpoints = endpoints;
  }

  pick(avoid?: Endpoint): Endpoint | undefined {
    return this.#pick(avoid, true);
  }

  pickAny(avoid?: Endpoint): Endpoint | undefined {
    return this.#pick(avoid, false);
  }

  #pick(avoid: Endpoint | undefined, onlyAvailable: boolean): Endpoint | undefined {
    const n = this.#endpoints.length;
    let fallback: Endpoint | undefined;
    for (let i = 0; i < n; i++) {
      const candidate = this.#endpoints[(this.#next + i) % n] as Endpoint;
      if (onlyAvailable && !candidate.available()) continue;
      if (candidate === avoid && n > 1) {
        fallback = candidate;
        continue;
      }
      this.#next = (this.#next + i + 1) % n;
      return candidate;
    }
    return fallback;
  }
}
