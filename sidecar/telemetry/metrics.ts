// Prometheus metrics of one sidecar (names and labels are the contract in DESIGN.md). The request
// path records into plain numbers (request-series.ts); everything else uses prom-client directly.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { RequestMetrics, type RequestSeries } from './request-series.ts';

/** Distinct peer_service values before the rest count as "other". */
const MAX_PEERS = 64;

export type Direction = 'inbound' | 'outbound';

/** What the request path records into: one per (direction, service, peer_service, route). */
export type StreamMetrics = RequestSeries;

export class SidecarMetrics {
  readonly registry = new Registry();
  readonly requests: RequestMetrics;
  readonly configVersion: Gauge;
  readonly configRejected: Counter<'source'>;
  readonly upstreamConnections: Gauge;
  readonly connectionsDropped: Counter<'listener'>;
  readonly #peersSeen = new Set<string>();

  constructor(upstreamConnections: () => number) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new RequestMetrics(this.registry);
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

  /** The series for one stream family; cached for the life of the process (labels are bounded). */
  stream(direction: Direction, service: string, peer: string, route: string): StreamMetrics {
    return this.requests.series({ direction, service, peer_service: peer, route });
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
