// Byte tunnels for CONNECT: opaque TCP both ways, with backpressure from pipe(). (An HTTP Upgrade
// becomes a tunnel only after the upstream's 101: proxy/upgrade-attempt.ts.)
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { FLAGS, NO_FLAGS, type Flag } from '../proxy/flags.ts';
import type { StreamMetrics } from '../telemetry/metrics.ts';
import { rawLocalReply } from '../proxy/local-reply.ts';
import { classifyUpstreamError } from '../proxy/upstream-error.ts';

export interface TunnelTarget {
  host: string;
  port: number;
  connectTimeoutMs: number;
  label: string;
}

export interface TunnelOutcome {
  /** Called once: with a flag when the tunnel failed before any upstream byte came back. */
  (flag: Flag | undefined): void;
}

/**
 * Records a tunnel in the request metrics when its outcome is known: `okStatus` (101 for an
 * Upgrade, 200 for CONNECT) when it opened, the flag's status when it did not. `metrics` may be
 * re-pointed (routing picks the series) until the outcome arrives.
 */
export class TunnelRecord {
  metrics: StreamMetrics;
  readonly #method: string;
  readonly #okStatus: number;
  readonly #started = performance.now();

  constructor(metrics: StreamMetrics, method: string, okStatus: number) {
    this.metrics = metrics;
    this.#method = method;
    this.#okStatus = okStatus;
  }

  readonly done: TunnelOutcome = (flag) => {
    const status = flag === undefined ? this.#okStatus : FLAGS[flag].status;
    this.metrics.record(this.#method, status, flag ?? NO_FLAGS, (performance.now() - this.#started) / 1000);
  };
}

/** Connects to the target; calls back with the connected socket or answers the client with a flag. */
function dial(client: Duplex, target: TunnelTarget, requestId: string | undefined, done: TunnelOutcome, onOpen: (upstream: Socket) => void): void {
  const upstream = connect({ host: target.host, port: target.port, noDelay: true });
  let opened = false;
  const timer = setTimeout(() => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), target.connectTimeoutMs);
  upstream.once('connect', () => {
    clearTimeout(timer);
    opened = true;
    onOpen(upstream);
  });
  upstream.on('error', (err) => {
    clearTimeout(timer);
    if (!opened) {
      const failure = classifyUpstreamError(err, target.label);
      rawLocalReply(client, failure.flag, failure.error.message, requestId);
      done(failure.flag);
    } else client.destroy();
  });
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
}

/** Tunnels a CONNECT request as opaque TCP to host:port. */
export function tunnelConnect(client: Duplex, head: Buffer, target: TunnelTarget, done: TunnelOutcome): void {
  dial(client, target, undefined, done, (upstream) => {
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
    done(undefined);
  });
}
