// The inbound request path: a call from another sidecar (or, in Kubernetes, any client redirected
// to 15006) is checked, measured and forwarded to the local app.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { rawLocalReply, TunnelRecord, tunnelUpgrade } from '../listener/tunnel.ts';
import { Exchange, type ExchangeObserver } from '../proxy/exchange.ts';
import { upstreamHeaders } from '../proxy/headers.ts';
import { localReply } from '../proxy/local-reply.ts';
import type { ProxyContext } from './context.ts';
import { NO_BODY } from '../proxy/request-body.ts';
import { ProxyCall } from './proxy-call.ts';
import { recordExchange } from './record.ts';
import type { StreamMetrics } from '../telemetry/metrics.ts';
import type { Socket } from 'node:net';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../config/compile.ts';
import type { OriginalDestination } from '../interception/original-destination.ts';
import type { OpaqueTcpProxy } from '../interception/opaque-tcp.ts';
import { parseAuthority } from '../routing/request-target.ts';

export class InboundPipeline implements ExchangeObserver {
  readonly #ctx: ProxyContext;
  readonly #appLabel: string;
  readonly #byPeer = new Map<string | undefined, StreamMetrics>();
  readonly #appHost: string;
  readonly #appPort: number | undefined;

  constructor(ctx: ProxyContext) {
    this.#ctx = ctx;
    this.#appLabel = `local app ${ctx.app ?? '(none)'}`;
    const app = ctx.app === undefined ? undefined : parseAuthority(ctx.app);
    this.#appHost = app?.host ?? '127.0.0.1';
    this.#appPort = app?.port;
  }

  /**
   * A redirected connection is HTTP for the app only on the app's port; every other port of the pod
   * (a metrics port, a database, a second protocol) is passed to the same port on the app's host as
   * opaque TCP, so interception never breaks what the sidecar does not handle.
   */
  readonly classify = (destination: OriginalDestination): 'detect' | 'opaque' => (destination.port === this.#appPort ? 'detect' : 'opaque');

  opaque(socket: Socket, destination: OriginalDestination, head: Buffer, proxy: OpaqueTcpProxy): void {
    const ctx = this.#ctx;
    const connectTimeoutMs = ctx.store.current?.inbound.timeouts.connectMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    proxy.proxy(socket, { host: this.#appHost, port: destination.port, connectTimeoutMs }, head, ctx.metrics.tcp.series('inbound', ctx.self.service, 'unknown'));
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
    if (inbound?.callTarget === undefined) {
      const why = ctx.app === undefined ? 'this sidecar has no local app (--app)' : 'the sidecar has no configuration yet';
      return this.#reply(exchange, 'NR', why);
    }
    // policy: the inbound rate limit, and the caller's deadline as a total timeout
    if (inbound.rateLimit !== undefined && !inbound.rateLimit.tryTake()) {
      exchange.setFlag('RL');
      return localReply(res, 'RL', `inbound rate limit of ${inbound.rateLimit.ratePerSecond}/s reached`, undefined, exchange.requestId,
        { 'retry-after': String(inbound.rateLimit.retryAfterSeconds()) });
    }
    if (ctx.tracing !== undefined) {
      const span = ctx.tracing.serverSpan({ parentHeaders: req.headers, method: req.method ?? 'GET', path: req.url ?? '/', serverAddress: ctx.self.service, serverPort: req.socket.localPort });
      ctx.tracing.inject(span, up.headers);
      exchange.span = span;
    }
    let timeouts = inbound.timeouts;
    if (up.deadlineMs !== undefined) {
      if (up.deadlineMs <= 0) return this.#reply(exchange, 'UT', 'the caller\'s deadline has already passed');
      if (timeouts.totalMs === undefined || up.deadlineMs < timeouts.totalMs) timeouts = { ...timeouts, totalMs: up.deadlineMs };
    }
    // upstream
    new ProxyCall(ctx, exchange, {
      target: inbound.callTarget, path: req.url ?? '/', headers: up.headers,
      body: up.hasBody ? { kind: 'stream', stream: req } : NO_BODY, timeouts, retry: undefined, counters: undefined, propagateDeadline: false, traceAttempts: false,
    }).start();
  };

  #reply(exchange: Exchange, flag: 'NR' | 'UT', message: string): void {
    exchange.setFlag(flag);
    localReply(exchange.res, flag, message, undefined, exchange.requestId);
  }

  /** HTTP Upgrade to the local app, tunnelled as bytes. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const ctx = this.#ctx;
    const up = upstreamHeaders(req.rawHeaders, req.socket.remoteAddress, true);
    const { done } = new TunnelRecord(this.#series(up.peer), req.method ?? 'GET', 101);
    const inbound = ctx.store.current?.inbound;
    if (inbound?.app === undefined) {
      rawLocalReply(socket, 'NR', 'this sidecar has no local app (--app) or no configuration yet', up.requestId);
      return done('NR');
    }
    const target = { host: inbound.app.host, port: inbound.app.port, connectTimeoutMs: inbound.timeouts.connectMs, label: this.#appLabel };
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
