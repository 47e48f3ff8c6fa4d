// Resilience state per endpoint, kept across config snapshots: a policy edit must not forget that
// an endpoint's breaker is open, nor its latency history. A breaker is rebuilt only when its own
// settings change; state of endpoints that left every service is dropped.
import { EndpointStats } from './endpoint-stats.ts';
import { CircuitBreaker, type BreakerConfig, type CircuitState } from '../policy/circuit-breaker.ts';
import type { Clock, Random } from '../policy/clock.ts';

export interface BreakerObserver {
  onCreated(service: string, endpoint: string): void;
  onTransition(service: string, endpoint: string, to: CircuitState, from: CircuitState): void;
}

interface State {
  stats: EndpointStats;
  breaker: CircuitBreaker | undefined;
  breakerKey: string;
}

export class EndpointStateRegistry {
  readonly #states = new Map<string, State>();
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #observer: BreakerObserver;

  constructor(clock: Clock, random: Random, observer: BreakerObserver) {
    this.#clock = clock;
    this.#random = random;
    this.#observer = observer;
  }

  static key(service: string, address: string): string {
    return `${service}|${address}`;
  }

  /** The state of `address` in `service`, with a breaker for `config` (none when undefined). */
  get(service: string, address: string, endpointName: string, config: BreakerConfig | undefined): State {
    const key = EndpointStateRegistry.key(service, address);
    const breakerKey = config === undefined ? '' : JSON.stringify(config);
    let state = this.#states.get(key);
    if (state === undefined) {
      state = { stats: new EndpointStats(this.#clock), breaker: undefined, breakerKey: '' };
      this.#states.set(key, state);
    }
    if (state.breaker === undefined ? breakerKey !== '' : state.breakerKey !== breakerKey) {
      const observer = this.#observer;
      state.breaker = config === undefined ? undefined
        : new CircuitBreaker(config, this.#clock, this.#random, (to, from) => observer.onTransition(service, endpointName, to, from));
      state.breakerKey = breakerKey;
      if (state.breaker !== undefined) observer.onCreated(service, endpointName);
    }
    return state;
  }

  /** Drops the state of endpoints no snapshot names any more. */
  retain(keys: ReadonlySet<string>): void {
    for (const key of this.#states.keys()) if (!keys.has(key)) this.#states.delete(key);
  }
}
