// Call targets: where a request's attempts go. A mesh service picks with its balancer and asks the
// endpoint's breaker; the local app and a passthrough origin are a single destination.
//
// When too few of a service's endpoints are available, breakers stop deciding (Envoy's panic
// threshold): below `panicThreshold` percent available, the balancer picks among all endpoints, so
// a blip that opened every breaker costs the blip, not `openFor`. 0 turns it off: when every
// endpoint is open the call fails fast with UO.
import { ProxyError } from '../proxy/flags.ts';
import type { Destination, Endpoint } from '../upstream/endpoint.ts';
import type { Balancer } from './balancer.ts';

export type { Destination } from '../upstream/endpoint.ts';

export interface CallTarget {
  /** The destination of the next attempt, avoiding `previous` when it can; a ProxyError when there is none. */
  next(previous: Endpoint | undefined): Destination | ProxyError;
}

/** Default: below 50% of endpoints available, balance over all of them (as Envoy does). */
export const DEFAULT_PANIC_THRESHOLD = 50;

export class ServiceCallTarget implements CallTarget {
  readonly #id: string;
  readonly #endpoints: readonly Endpoint[];
  readonly #balancer: Balancer;
  /** Percent; 0 = never panic. */
  readonly #panicThreshold: number;
  /** Whether any endpoint has a breaker: without one, every endpoint is always available. */
  readonly #guarded: boolean;

  constructor(serviceId: string, endpoints: readonly Endpoint[], balancer: Balancer, panicThreshold = DEFAULT_PANIC_THRESHOLD) {
    this.#id = serviceId;
    this.#endpoints = endpoints;
    this.#balancer = balancer;
    this.#panicThreshold = panicThreshold;
    this.#guarded = endpoints.some((e) => e.breaker !== undefined);
  }

  next(previous: Endpoint | undefined): Destination | ProxyError {
    const endpoints = this.#endpoints;
    if (endpoints.length === 0) return new ProxyError('UH', `service ${this.#id} has no endpoints`);
    if (this.#guarded && this.#panicking()) {
      const any = this.#balancer.pickAny(previous);
      if (any !== undefined) return any.panicDestination;
    }
    // A balancer only offers endpoints whose breaker is available; acquire() can still refuse when
    // another request took the last half-open probe in between, so try the others.
    for (let i = 0; i <= endpoints.length; i++) {
      const endpoint = this.#balancer.pick(previous);
      if (endpoint === undefined) break;
      if (endpoint.breaker === undefined || endpoint.breaker.acquire()) return endpoint.destination;
      previous = endpoint;
    }
    return new ProxyError('UO', `every endpoint of ${this.#id} has its circuit open; failing fast`);
  }

  /** True when the share of endpoints a breaker would admit is below the panic threshold. */
  #panicking(): boolean {
    if (this.#panicThreshold <= 0) return false;
    const endpoints = this.#endpoints;
    let available = 0;
    for (let i = 0; i < endpoints.length; i++) if ((endpoints[i] as Endpoint).available()) available++;
    return available * 100 < this.#panicThreshold * endpoints.length;
  }
}

/** No destination: the share of a rule's calls that its invalid backendRefs would have had (500 NC). */
export class FailingCallTarget implements CallTarget {
  readonly #error: ProxyError;

  constructor(error: ProxyError) {
    this.#error = error;
  }

  next(): ProxyError {
    return this.#error;
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
