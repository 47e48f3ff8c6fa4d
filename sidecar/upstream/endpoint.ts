// A runtime endpoint: one upstream address of a mesh service, the pool that reaches it, and its
// resilience state (load signals and circuit breaker), which outlives config snapshots.
import { parseAuthority } from '../routing/request-target.ts';
import type { EndpointStats } from '../balancer/endpoint-stats.ts';
import type { CircuitBreaker } from '../policy/circuit-breaker.ts';
import type { Destination } from './destination.ts';
import type { Pool } from './undici.ts';

export class Endpoint {
  readonly address: string;
  readonly name: string;
  readonly origin: string;
  /** For raw tunnels (Upgrade), which bypass the pool. */
  readonly host: string;
  readonly port: number;
  readonly pool: Pool;
  readonly poolKey: string;
  readonly stats: EndpointStats;
  /** undefined when the service has no circuit breaker configured. */
  readonly breaker: CircuitBreaker | undefined;
  /** Built once: every attempt to this endpoint reuses it. */
  readonly destination: Destination;

  constructor(
    address: string, name: string | undefined, pool: Pool, poolKey: string, stats: EndpointStats,
    breaker: CircuitBreaker | undefined, label: string,
  ) {
    this.address = address;
    this.name = name ?? address;
    this.origin = `http://${address}`;
    const parsed = parseAuthority(address);
    if (parsed === undefined || parsed.port === undefined) throw new Error(`endpoint address "${address}" is not host:port`);
    this.host = parsed.host;
    this.port = parsed.port;
    this.pool = pool;
    this.poolKey = poolKey;
    this.stats = stats;
    this.breaker = breaker;
    this.destination = { dispatcher: pool, endpoint: this, label };
  }

  /** Whether the balancer may choose it now (its breaker, if any, would admit a request). */
  available(): boolean {
    return this.breaker === undefined || this.breaker.available();
  }
}
