// Prometheus metrics of one sidecar (names and labels are the contract in DESIGN.md). Label
// children are resolved once and cached, so the request path does a Map lookup, never a label hash.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Mesh latencies: 1 ms to 30 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT']);
/** Distinct peer_service values one stream family may create before the rest count as "other". */
const MAX_PEERS = 64;

type RequestLabel = 'direction' | 'service' | 'peer_service' | 'route' | 'method' | 'code' | 'flags';
type DurationLabel = 'direction' | 'service' | 'peer_service' | 'route';

export type Direction = 'inbound' | 'outbound';

/** The metric children of one (direction, service, peer_service, route). */
export class StreamMetrics {
  readonly #requests: Counter<RequestLabel>;
  readonly #labels: Record<DurationLabel, string>;
  readonly #duration: Histogram.Internal<DurationLabel>;
  readonly #outcomes = new Map<string, Counter.Internal>();

  constructor(requests: Counter<RequestLabel>, duration: Histogram<DurationLabel>, labels: Record<DurationLabel, string>) {
    this.#requests = requests;
    this.#labels = labels;
    this.#duration = duration.labels(labels);
  }

  record(method: string, code: number, flags: string, seconds: number): void {
    const key = `${method} ${code} ${flags}`;
    let child = this.#outcomes.get(key);
    if (child === undefined) {
      const m = KNOWN_METHODS.has(method) ? method : 'OTHER';
      child = this.#requests.labels({ ...this.#labels, method: m, code: String(code), flags });
      this.#outcomes.set(key, child);
    }
    child.inc();
    this.#duration.observe(seconds);
  }
}

export class SidecarMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<RequestLabel>;
  readonly duration: Histogram<DurationLabel>;
  readonly configVersion: Gauge;
  readonly configRejected: Counter<'source'>;
  readonly upstreamConnections: Gauge;
  readonly connectionsDropped: Counter<'listener'>;
  readonly #streams = new Map<string, StreamMetrics>();
  readonly #peersSeen = new Set<string>();

  constructor(upstreamConnections: () => number) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'petrel_requests_total', help: 'Requests handled by the sidecar, by outcome.', registers,
      labelNames: ['direction', 'service', 'peer_service', 'route', 'method', 'code', 'flags'],
    });
    this.duration = new Histogram({
      name: 'petrel_request_duration_seconds', help: 'Request duration as the client saw it, retries included.', registers,
      labelNames: ['direction', 'service', 'peer_service', 'route'], buckets: LATENCY_BUCKETS,
    });
    this.configVersion = new Gauge({ name: 'petrel_config_version', help: 'Version of the snapshot in force.', registers });
    this.configRejected = new Counter({
      name: 'petrel_config_rejected_total', help: 'Snapshots rejected; the previous one stayed in force.', registers,
      labelNames: ['source'],
    });
    this.upstreamConnections = new Gauge({
      name: 'petrel_upstream_connections', help: 'Open connections to upstream endpoints.', registers,
      collect() { this.set(upstreamConnections()); },
    });
    this.connectionsDropped = new Counter({
      name: 'petrel_listener_connections_dropped_total', help: 'Connections refused by the connection limit.', registers,
      labelNames: ['listener'],
    });
  }

  /** Children for one stream family; cached for the life of the process (labels are bounded). */
  stream(direction: Direction, service: string, peer: string, route: string): StreamMetrics {
    const key = `${direction}\0${service}\0${peer}\0${route}`;
    let stream = this.#streams.get(key);
    if (stream === undefined) {
      stream = new StreamMetrics(this.requests, this.duration, { direction, service, peer_service: peer, route });
      this.#streams.set(key, stream);
    }
    return stream;
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
