// The inbound request path: a call from another sidecar (or, in Kubernetes, any client redirected
// to 15006) is checked, measured and forwarded to the local app.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import { rawLocalReply, tunnelUpgrade } from '../listener/tunnel.ts';
import { FLAGS, NO_FLAGS, type Flag } from '../proxy/flags.ts';
import { Exchange, type ExchangeObserver } from '../proxy/exchange.ts';
import { upstreamHeaders } from '../proxy/headers.ts';
import { localReply } from '../proxy/local-reply.ts';
import type { ProxyContext } from './context.ts';
import { forward, type UpstreamRequest } from './forward.ts';
import { recordExchange } from './record.ts';
import type { StreamMetrics } from '../telemetry/metrics.ts';

export class InboundPipeline implements ExchangeObserver {
  readonly #ctx: ProxyContext;
  readonly #appLabel: string;
  readonly #byPeer = new Map<string | undefined, StreamMetrics>();

  constructor(ctx: ProxyContext) {
    this.#ctx = ctx;
    this.#appLabel = `local app ${ctx.app ?? '(none)'}`;
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const ctx = this.#ctx;
    const exchange = new Exchange(req, res, this);
    // accept
    const up = upstreamHeaders(req.rawHeaders, req.socket.remoteAddress);
    exchange.requestId = up.requestId;
    exchange.metrics = this.#series(up.peer);
    // route: everything inbound goes to the one local app
    const inbound = ctx.store.current?.inbound;
    const app = inbound?.app;
    if (inbound === undefined || app === undefined) {
      exchange.setFlag('NR');
      const why = ctx.app === undefined ? 'this sidecar has no local app (--app)' : 'the sidecar has no configuration yet';
      return localReply(res, 'NR', why, undefined, exchange.requestId);
    }
    // upstream
    const request: UpstreamRequest = {
      dispatcher: app.pool,
      path: req.url ?? '/', headers: up.headers, hasBody: up.hasBody, label: this.#appLabel,
      perTryTimeoutMs: inbound.policy.perTryTimeoutMs, totalTimeoutMs: inbound.policy.totalTimeoutMs,
    };
    if (!up.hasBody) return forward(ctx, exchange, request);
    // See OutboundPipeline: a body malformed in the first packet never reaches the app.
    queueMicrotask(() => {
      if (!req.destroyed) forward(ctx, exchange, request);
    });
  };

  /** HTTP Upgrade to the local app, tunnelled as bytes. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const ctx = this.#ctx;
    const started = performance.now();
    const up = upstreamHeaders(req.rawHeaders, req.socket.remoteAddress, true);
    const metrics = this.#series(up.peer);
    const done = (flag: Flag | undefined) =>
      metrics.record(req.method ?? 'GET', flag === undefined ? 101 : FLAGS[flag].status, flag ?? NO_FLAGS, (performance.now() - started) / 1000);
    const inbound = ctx.store.current?.inbound;
    if (inbound?.app === undefined) {
      rawLocalReply(socket, 'NR', 'this sidecar has no local app (--app) or no configuration yet', up.requestId);
      return done('NR');
    }
    const target = { host: inbound.app.host, port: inbound.app.port, connectTimeoutMs: inbound.policy.connectTimeoutMs, label: this.#appLabel };
    tunnelUpgrade(req, socket, head, target, req.url ?? '/', up.headers, up.requestId, done);
  };

  /** Metric series by calling peer, looked up once per distinct peer header value. */
  #series(peer: string | undefined): StreamMetrics {
    let series = this.#byPeer.get(peer);
    if (series === undefined) {
      const ctx = this.#ctx;
      series = ctx.metrics.stream('inbound', ctx.self.service, ctx.metrics.boundedPeer(peer), 'default');
      if (this.#byPeer.size < 256) this.#byPeer.set(peer, series);
    }
    return series;
  }

  onExchangeDone(exchange: Exchange): void {
    recordExchange(this.#ctx, exchange, 'inbound');
  }
}
