// Prometheus metrics of one sidecar (names and labels are the contract in DESIGN.md). The request
// path records into plain numbers (request-series.ts); everything else uses prom-client directly.
import { Counter, Gauge, Registry } from 'prom-client';
import { collectProcessMetrics } from './process-metrics.ts';
import { RequestMetrics, type Direction, type StreamMetrics } from './request-series.ts';
import { TcpMetricsFamily } from './tcp-metrics.ts';
import { IdentityMetrics } from './identity-metrics.ts';
import { StatWindows, type StatClock } from './stat-window.ts';

/** Distinct peer_service values before the rest count as "other". */
const MAX_PEERS = 64;

export type { Direction, StreamMetrics } from './request-series.ts';

/** Counters of the policy decisions on one route; children are resolved once per snapshot. */
export interface RouteCounters {
  retry(reason: string): void;
  budgetExhausted(): void;
  rateLimited(): void;
  overflow(): void;
}

const CIRCUIT_STATE_VALUE = { closed: 0, open: 1, 'half-open': 2 } as const;

export class SidecarMetrics {
  readonly registry = new Registry();
  readonly requests: RequestMetrics;
  readonly configVersion: Gauge;
  readonly configRejected: Counter<'source'>;
  readonly upstreamConnections: Gauge;
  readonly tcp: TcpMetricsFamily;
  readonly connectionsDropped: Counter<'listener'>;
  readonly retries: Counter<'service' | 'peer_service' | 'route' | 'reason'>;
  readonly retryBudgetExhausted: Counter<'service' | 'peer_service' | 'route'>;
  readonly rateLimited: Counter<'service' | 'peer_service' | 'route'>;
  readonly overflow: Counter<'service' | 'peer_service' | 'route'>;
  readonly circuitState: Gauge<'peer_service' | 'endpoint'>;
  readonly circuitTransitions: Counter<'peer_service' | 'endpoint' | 'to'>;
  readonly authzDenied: Counter<'service' | 'peer_service'>;
  readonly #peersSeen = new Set<string>();
  readonly identity: IdentityMetrics;
  readonly mirrors: Counter<'service' | 'mirror' | 'result'>;
  /** The last 30 s per (direction, service called, route), for `petrel stat`. Passthrough traffic calls no mesh service. */
  readonly stat: StatWindows;

  constructor(upstreamConnections: () => number, statClock?: StatClock) {
    const registers = [this.registry];
    this.stat = new StatWindows(statClock);
    this.identity = new IdentityMetrics(this.registry);
    this.mirrors = new Counter({
      name: 'petrel_mirror_requests_total', registers, labelNames: ['service', 'mirror', 'result'],
      help: 'HTTPRoute RequestMirror copies: sent, failed (an error or 5xx), dropped (too many in flight), skipped (a streamed body).',
    });
    collectProcessMetrics(this.registry);
    this.requests = new RequestMetrics(this.registry, (l) => (l.peer_service === 'passthrough' && l.direction === 'outbound'
      ? undefined : this.stat.window(l.direction as Direction, l.direction === 'inbound' ? l.service : l.peer_service, l.route)));
    this.tcp = new TcpMetricsFamily(this.registry);
    this.configVersion = new Gauge({ name: 'petrel_config_version', help: 'Version of the snapshot in force.', registers });
    this.configRejected = new Counter({
      name: 'petrel_config_rejected_total', help: 'Snapshots rejected; the previous one stayed in force.', registers,
      labelNames: ['source'],
    });
    this.upstreamConnections = new Gauge({
      name: 'petrel_upstream_connections', help: 'Open connections to upstream endpoints.', registers,
      collect() { this.set(upstreamConnections()); },
    });
    const routeLabels = ['service', 'peer_service', 'route'] as const;
    this.retries = new Counter({
      name: 'petrel_retries_total', help: 'Retries sent, by the reason of the failed attempt.', registers,
      labelNames: [...routeLabels, 'reason'],
    });
    this.retryBudgetExhausted = new Counter({
      name: 'petrel_retry_budget_exhausted_total', help: 'Retries not sent because the retry budget was spent.', registers, labelNames: routeLabels,
    });
    this.rateLimited = new Counter({
      name: 'petrel_rate_limited_total', help: 'Requests refused by a rate limit (429 RL).', registers, labelNames: routeLabels,
    });
    this.overflow = new Counter({
      name: 'petrel_overflow_total', help: 'Requests refused by the concurrency limit (503 UO).', registers, labelNames: routeLabels,
    });
    this.circuitState = new Gauge({
      name: 'petrel_circuit_state', help: 'Circuit breaker state per endpoint: 0 closed, 1 open, 2 half-open.', registers,
      labelNames: ['peer_service', 'endpoint'],
    });
    this.circuitTransitions = new Counter({
      name: 'petrel_circuit_transitions_total', help: 'Circuit breaker transitions per endpoint, by the state entered.', registers,
      labelNames: ['peer_service', 'endpoint', 'to'],
    });
    this.authzDenied = new Counter({
      name: 'petrel_authz_denied_total', help: 'Inbound calls denied by an AccessPolicy (403 RBAC), by the caller\'s service account.', registers,
      labelNames: ['service', 'peer_service'],
    });
    this.connectionsDropped = new Counter({
      name: 'petrel_listener_connections_dropped_total', help: 'Connections refused by the connection limit.', registers,
      labelNames: ['listener'],
    });
  }

  /** `direction` picks the `petrel stat` window retries count in: the destination's for outbound, the sidecar's own for inbound. */
  routeCounters(service: string, peer: string, route: string, direction: Direction = 'outbound'): RouteCounters {
    const labels = { service, peer_service: peer, route };
    const stat = this.stat.window(direction, direction === 'inbound' ? service : peer, route);
    const byReason = new Map<string, Counter.Internal>();
    const exhausted = this.retryBudgetExhausted.labels(labels);
    const limited = this.rateLimited.labels(labels);
    const overflow = this.overflow.labels(labels);
    return {
      retry: (reason) => {
        let child = byReason.get(reason);
        if (child === undefined) byReason.set(reason, (child = this.retries.labels({ ...labels, reason })));
        child.inc();
        stat.retry();
      },
      budgetExhausted: () => exhausted.inc(),
      rateLimited: () => limited.inc(),
      overflow: () => overflow.inc(),
    };
  }

  /**
   * Counts AccessPolicy denials for `service`: by the caller's service account (bounded like every
   * peer label), "unknown" for a plaintext caller. Children are cached per label value.
   */
  authzDeniedCounter(service: string): (peer: string | undefined) => void {
    const children = new Map<string, Counter.Internal>();
    return (peer) => {
      const label = this.boundedPeer(peer);
      let child = children.get(label);
      if (child === undefined) children.set(label, (child = this.authzDenied.labels({ service, peer_service: label })));
      child.inc();
    };
  }

  /** Counts one mirror target's copies; children resolved lazily, four at most. */
  mirrorCounter(service: string, mirror: string): (result: 'sent' | 'failed' | 'dropped' | 'skipped') => void {
    return (result) => this.mirrors.inc({ service, mirror, result });
  }

  /** Records a breaker transition: the state gauge and the transitions counter. */
  circuitTransition(peer: string, endpoint: string, to: keyof typeof CIRCUIT_STATE_VALUE): void {
    this.circuitState.set({ peer_service: peer, endpoint }, CIRCUIT_STATE_VALUE[to]);
    this.circuitTransitions.inc({ peer_service: peer, endpoint, to });
  }

  /** A new breaker starts closed; the gauge shows it from the start. */
  circuitCreated(peer: string, endpoint: string): void {
    this.circuitState.set({ peer_service: peer, endpoint }, 0);
  }

  /** The series for one stream family; cached for the life of the process (labels are bounded). */
  stream(direction: Direction, service: string, peer: string, route: string, tls: boolean): StreamMetrics {
    return this.requests.series({ direction, service, peer_service: peer, route, tls: tls ? 'true' : 'false' });
  }

  /** Bounds a peer name that arrived in a request header: the first MAX_PEERS distinct names, then "other". */
  boundedPeer(peer: string | undefined): string {
    if (peer === undefined || peer === '') return 'unknown';
    if (this.#peersSeen.has(peer)) return peer;
    if (this.#peersSeen.size >= MAX_PEERS || !/^[a-z0-9][-a-z0-9.]{0,252}$/.test(peer)) return 'other';
    this.#peersSeen.add(peer);
    return peer;
  }
}
