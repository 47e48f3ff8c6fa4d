// A runtime endpoint: one upstream address of a mesh service, the pool that reaches it, and its
// resilience state (load signals and circuit breaker), which outlives config snapshots. The
// endpoint keeps its own books: an attempt begins here and settles here.
import { parseAuthority } from '../routing/request-target.ts';
import type { EndpointStats } from './endpoint-stats.ts';
import type { CircuitBreaker } from '../policy/circuit-breaker.ts';
import type { Dispatcher } from 'undici';
import type { Pool } from './undici.ts';
import type { H2SessionPool } from './h2-session-pool.ts';
import type { ClientTls } from '../identity/mesh-tls.ts';

/**
 * Where one attempt goes: a dispatcher (an endpoint's pool, or the passthrough agent with an
 * origin), the address for raw tunnels (Upgrade), and the label that names it in errors and logs.
 */
export interface Destination {
  readonly dispatcher: Dispatcher;
  /** HTTP/2 sessions to the same address, for requests that arrived over HTTP/2. */
  readonly h2: H2SessionPool;
  /** Required for an Agent (passthrough); pools know their origin. */
  readonly origin?: string;
  /** Host and port to dial for a tunnel, which bypasses the pool. */
  readonly host: string;
  readonly port: number;
  /** Mesh mTLS to the endpoint's sidecar, for tunnels too; undefined for plaintext. */
  readonly tls?: ClientTls;
  /** The mesh endpoint, whose load and breaker the attempt updates; undefined outside the mesh. */
  readonly endpoint?: Endpoint;
  readonly label: string;
  /** Chosen in panic (breakers overruled): a success closes the endpoint's open breaker. */
  readonly panic?: boolean;
}

/** The latency a failed attempt is charged with in the endpoint's EWMA. */
export const FAILURE_LATENCY_MS = 1000;

/**
 * How an attempt ended, for the endpoint's books: `cancelled` (the client left, or the request was
 * the client's mistake) says nothing about the endpoint's health; `overloaded` (gRPC
 * RESOURCE_EXHAUSTED) is the endpoint shedding load: the balancer steers away as from a failure,
 * the breaker is not told.
 */
export type AttemptOutcome = 'succeeded' | 'failed' | 'cancelled' | 'overloaded';

export class Endpoint {
  readonly address: string;
  readonly name: string;
  readonly origin: string;
  /** Mesh mTLS to this endpoint's sidecar; undefined for plaintext (the local app, meshes without identity). */
  readonly tls: ClientTls | undefined;
  /** For raw tunnels (Upgrade), which bypass the pool. */
  readonly host: string;
  readonly port: number;
  readonly pool: Pool;
  readonly h2: H2SessionPool;
  readonly poolKey: string;
  readonly stats: EndpointStats;
  /** undefined when the service has no circuit breaker configured. */
  readonly breaker: CircuitBreaker | undefined;
  /** Built once: every attempt to this endpoint reuses it. */
  readonly destination: Destination;
  /** The same, for attempts the balancer made in panic. */
  readonly panicDestination: Destination;

  constructor(
    address: string, name: string | undefined, pool: Pool, h2: H2SessionPool, poolKey: string, stats: EndpointStats,
    breaker: CircuitBreaker | undefined, label: string, tls?: ClientTls,
  ) {
    this.address = address;
    this.name = name ?? address;
    this.origin = `${tls === undefined ? 'http' : 'https'}://${address}`;
    this.tls = tls;
    const parsed = parseAuthority(address);
    if (parsed === undefined || parsed.port === undefined) throw new Error(`endpoint address "${address}" is not host:port`);
    this.host = parsed.host;
    this.port = parsed.port;
    this.pool = pool;
    this.h2 = h2;
    this.poolKey = poolKey;
    this.stats = stats;
    this.breaker = breaker;
    this.destination = { dispatcher: pool, h2, host: this.host, port: this.port, endpoint: this, label, ...(tls === undefined ? {} : { tls }) };
    this.panicDestination = { ...this.destination, panic: true };
  }

  /** Whether the balancer may choose it now (its breaker, if any, would admit a request). */
  available(): boolean {
    return this.breaker === undefined || this.breaker.available();
  }

  /** An attempt to this endpoint starts. */
  begin(): void {
    this.stats.inflight++;
  }

  /**
   * An attempt ended: load, latency, breaker. A failure counts as at least FAILURE_LATENCY_MS, so
   * that an endpoint failing fast (connection refused) does not look like the fastest one to the
   * EWMA balancer and draw traffic into a black hole.
   */
  settle(outcome: AttemptOutcome, latencyMs: number, panic: boolean | undefined): void {
    this.stats.inflight--;
    const breaker = this.breaker;
    if (outcome === 'cancelled') {
      // Neither a success nor a failure; a half-open probe slot must still be given back.
      breaker?.onCancelled();
      return;
    }
    if (outcome === 'failed' || outcome === 'overloaded') {
      this.stats.observe(Math.max(latencyMs, FAILURE_LATENCY_MS));
      if (outcome === 'failed') breaker?.onFailure();
      else breaker?.onCancelled();
      return;
    }
    this.stats.observe(latencyMs);
    if (panic === true) breaker?.onPanicSuccess();
    else breaker?.onSuccess();
  }
}
