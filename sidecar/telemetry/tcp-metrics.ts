// Metrics of opaque TCP connections (what interception passes through without parsing), named as
// Istio names them so existing dashboards translate: connections opened and closed, bytes each way.
import { Counter, type Registry } from 'prom-client';
import type { Direction } from './request-series.ts';

/** One (direction, service, peer_service) series set, resolved once and reused per connection. */
export interface TcpMetrics {
  opened(): void;
  /** received: bytes from the client; sent: bytes to the client; flag: why it never connected. */
  closed(received: number, sent: number, flag: TcpFlag | undefined): void;
}

/** UF / UT: the upstream connect failed or timed out; NR: passthrough is off for this destination. */
export type TcpFlag = 'UF' | 'UT' | 'NR';

const LABELS = ['direction', 'service', 'peer_service'] as const;

export class TcpMetricsFamily {
  readonly #opened: Counter<(typeof LABELS)[number]>;
  readonly #closed: Counter<(typeof LABELS)[number] | 'flags'>;
  readonly #received: Counter<(typeof LABELS)[number]>;
  readonly #sent: Counter<(typeof LABELS)[number]>;
  readonly #series = new Map<string, TcpMetrics>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.#opened = new Counter({ name: 'petrel_tcp_connections_opened_total', help: 'Opaque TCP connections opened.', registers, labelNames: LABELS });
    this.#closed = new Counter({
      name: 'petrel_tcp_connections_closed_total', help: 'Opaque TCP connections closed; flags UF / UT when the upstream connect failed or timed out, NR when passthrough is off.',
      registers, labelNames: [...LABELS, 'flags'],
    });
    this.#received = new Counter({ name: 'petrel_tcp_received_bytes_total', help: 'Bytes received from clients on opaque TCP connections.', registers, labelNames: LABELS });
    this.#sent = new Counter({ name: 'petrel_tcp_sent_bytes_total', help: 'Bytes sent to clients on opaque TCP connections.', registers, labelNames: LABELS });
  }

  /** peer_service is a mesh service, "passthrough" or "unknown": bounded by the snapshot. */
  series(direction: Direction, service: string, peer: string): TcpMetrics {
    const key = `${direction}\0${peer}`;
    let found = this.#series.get(key);
    if (found === undefined) {
      const labels = { direction, service, peer_service: peer };
      const opened = this.#opened.labels(labels);
      const received = this.#received.labels(labels);
      const sent = this.#sent.labels(labels);
      const closed = this.#closed;
      found = {
        opened: () => opened.inc(),
        closed: (bytesIn, bytesOut, flag) => {
          received.inc(bytesIn);
          sent.inc(bytesOut);
          closed.inc({ ...labels, flags: flag ?? '-' });
        },
      };
      this.#series.set(key, found);
    }
    return found;
  }
}
