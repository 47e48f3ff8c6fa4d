// Call targets: where the retry loop's attempts go. A mesh service picks with its balancer and
// asks the endpoint's breaker; the local app and a passthrough origin are a single destination.
import type { Balancer } from '../balancer/balancer.ts';
import { ProxyError } from '../proxy/flags.ts';
import type { Destination } from '../upstream/destination.ts';
import type { Endpoint } from '../upstream/endpoint.ts';
import type { CallTarget } from './proxy-call.ts';

export class ServiceCallTarget implements CallTarget {
  readonly #id: string;
  readonly #endpoints: readonly Endpoint[];
  readonly #balancer: Balancer;

  constructor(serviceId: string, endpoints: readonly Endpoint[], balancer: Balancer) {
    this.#id = serviceId;
    this.#endpoints = endpoints;
    this.#balancer = balancer;
  }

  next(previous: Endpoint | undefined): Destination | ProxyError {
    // A balancer only offers endpoints whose breaker is available; acquire() can still refuse when
    // another request took the last half-open probe in between, so try the others.
    for (let i = 0; i <= this.#endpoints.length; i++) {
      const endpoint = this.#balancer.pick(previous);
      if (endpoint === undefined) break;
      if (endpoint.breaker === undefined || endpoint.breaker.acquire()) return endpoint.destination;
      previous = endpoint;
    }
    if (this.#endpoints.length === 0) return new ProxyError('UH', `service ${this.#id} has no endpoints`);
    return new ProxyError('UO', `every endpoint of ${this.#id} has its circuit open; failing fast`);
  }
}

/** One fixed destination: the local app, or a passthrough origin. */
export class SingleCallTarget implements CallTarget {
  readonly #destination: Destination;

  constructor(destination: Destination) {
    this.#destination = destination;
  }

  next(): Destination {
    return this.#destination;
  }
}
