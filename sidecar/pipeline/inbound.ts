// The inbound request path: a call from another sidecar (or, in Kubernetes, any client redirected
// to 15006) is accepted, matched to one of this service's routes and passed down that route's
// chain (access policy -> rate limit -> caller's deadline -> body -> the local app).
import type { Socket } from 'node:net';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../config/compile.ts';
import { matchInboundRoute } from '../config/compiled.ts';
import { reject } from '../chain/reject.ts';
import type { OriginalDestination } from '../interception/original-destination.ts';
import type { OpaqueTcpProxy } from '../interception/opaque-tcp.ts';
import type { Exchange, UpgradeDownstream } from '../proxy/exchange.ts';
import { ProxyError } from '../proxy/flags.ts';
import { parseAuthority } from '../routing/request-target.ts';
import type { RouteCounters } from '../telemetry/metrics.ts';
import type { StreamMetrics } from '../telemetry/request-series.ts';
import type { ProxyContext } from './context.ts';
import { acceptRequest } from './accept.ts';
import { PipelineEntryPoints } from './entry-points.ts';

/** Distinct calling peers whose series are cached; past it, lookups go to the metrics registry. */
const MAX_CACHED_PEERS = 256;

interface PeerSeries {
  readonly metrics: StreamMetrics;
  readonly counters: RouteCounters;
}

export class InboundPipeline extends PipelineEntryPoints {
  readonly #byPeer = new Map<string | undefined, PeerSeries>();
  /** One entry per bounded peer label: the metric labels stay bounded, and so does this map. */
  readonly #byLabel = new Map<string, PeerSeries>();
  readonly #appPort: number | undefined;

  constructor(ctx: ProxyContext, reattach: UpgradeDownstream['reattach']) {
    super(ctx, 'inbound', reattach);
    this.#appPort = ctx.app === undefined ? undefined : parseAuthority(ctx.app)?.port;
  }

  /**
   * A redirected connection is HTTP for the app only on the app's port. A connection to one of the
   * sidecar's own ports is refused: from outside the pod they must never be reachable through
   * interception (the outbound listener, admin). Every other port of the pod is passed through as
   * opaque TCP to the address the client dialled, never to loopback, so a service the app bound to
   * 127.0.0.1 stays private to the pod.
   */
  readonly classify = (destination: OriginalDestination): 'detect' | 'opaque' | 'refuse' => {
    if (destination.port === this.#appPort) return 'detect';
    return this.ctx.selfAddresses.hasPort(destination.port) ? 'refuse' : 'opaque';
  };

  opaque(socket: Socket, destination: OriginalDestination, head: Buffer, proxy: OpaqueTcpProxy): void {
    const ctx = this.ctx;
    const metrics = ctx.metrics.tcp.series('inbound', ctx.self.service, 'unknown');
    if (this.classify(destination) === 'refuse') return proxy.refuse(socket, metrics);
    const connectTimeoutMs = ctx.store.current?.inbound.timeouts.connectMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    proxy.proxy(socket, { host: destination.host, port: destination.port, connectTimeoutMs }, head, metrics);
  }

  protected accept(exchange: Exchange, upgrade: boolean): void {
    const ctx = this.ctx;
    // accept
    const target = acceptRequest(exchange, upgrade);
    const peer = this.#peer(exchange.peer);
    exchange.metrics = peer.metrics;
    exchange.counters = peer.counters;
    if (target instanceof ProxyError) return reject(ctx, exchange, target, 'bad_request');
    // route: everything inbound goes to the one local app, by this service's own routes
    const inbound = ctx.store.current?.inbound;
    const route = inbound === undefined ? undefined : matchInboundRoute(inbound, exchange.method, target.path);
    if (route === undefined) {
      const why = ctx.app === undefined ? 'this sidecar has no local app (--app)' : 'the sidecar has no configuration yet';
      return reject(ctx, exchange, new ProxyError('NR', why), 'no_route');
    }
    if (ctx.tracing !== undefined) {
      const span = ctx.tracing.serverSpan({
        parentHeaders: exchange.requestHeaders, method: exchange.method, path: target.path, serverAddress: ctx.self.service,
        serverPort: exchange.socket.localPort, grpc: exchange.grpc,
      });
      ctx.tracing.inject(span, exchange.headers);
      exchange.span = span;
    }
    route.chain.run(exchange);
  }

  /**
   * Metric series and counters by calling peer. The header's raw value is cached (up to
   * MAX_CACHED_PEERS); past that, values share the entry of their bounded label, so a caller
   * sending random peer names costs a label lookup, never new counters.
   */
  #peer(name: string | undefined): PeerSeries {
    let entry = this.#byPeer.get(name);
    if (entry === undefined) {
      const ctx = this.ctx;
      const peer = ctx.metrics.boundedPeer(name);
      entry = this.#byLabel.get(peer);
      if (entry === undefined) {
        entry = { metrics: ctx.metrics.stream('inbound', ctx.self.service, peer, 'default'), counters: ctx.metrics.routeCounters(ctx.self.service, peer, 'default') };
        this.#byLabel.set(peer, entry);
      }
      if (this.#byPeer.size < MAX_CACHED_PEERS) this.#byPeer.set(name, entry);
    }
    return entry;
  }

}
