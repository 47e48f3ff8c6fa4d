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
import { EXPLAIN_HEADER, ExplainRefusals } from '../telemetry/explain.ts';
import { PipelineEntryPoints } from './entry-points.ts';
import { meshPeer } from '../listener/mtls-terminator.ts';
import { ALLOWED } from '../policy/access-control.ts';
import type { TLSSocket } from 'node:tls';

/** Distinct calling peers whose series are cached; past it, lookups go to the metrics registry. */
const MAX_CACHED_PEERS = 256;

interface PeerSeries {
  readonly metrics: StreamMetrics;
  readonly counters: RouteCounters;
}

export class InboundPipeline extends PipelineEntryPoints {
  /** Per-peer series of plaintext callers (only a sidecar without identity trusts x-petrel-peer). */
  readonly #byPeer = new Map<string | undefined, PeerSeries>();
  /** Per-identity series of mTLS callers, by service account URI. */
  readonly #byIdentity = new Map<string, PeerSeries>();
  /** One entry per bounded peer label and tls: the metric labels stay bounded, and so does this map. */
  readonly #byLabel = new Map<string, PeerSeries>();
  readonly #appPort: number | undefined;
  /**
   * Whether x-petrel-peer and x-petrel-deadline-ms may be believed from a plaintext caller: only by a
   * sidecar that has no identity at all (a static --config mesh, a control plane without a CA).
   * With identity, a plaintext caller is outside the mesh and anyone can write those headers.
   */
  readonly #trustPlaintextHeaders: () => boolean;

  constructor(ctx: ProxyContext, reattach: UpgradeDownstream['reattach'], trustPlaintextHeaders: () => boolean = () => true) {
    super(ctx, 'inbound', reattach);
    this.#appPort = ctx.app === undefined ? undefined : parseAuthority(ctx.app)?.port;
    this.#trustPlaintextHeaders = trustPlaintextHeaders;
    this.#explainRefusals = new ExplainRefusals(ctx.metrics.registry, ctx.log);
  }

  /** petrel-explain is the pod's own app's to ask, on the outbound listener: inbound it is refused. */
  readonly #explainRefusals: ExplainRefusals;

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
    // `mtls: strict`: nothing but mesh mTLS reaches the app, opaque TCP included.
    if (ctx.store.current?.source.inbound?.access?.mtls === 'strict') return proxy.refuse(socket, metrics);
    const connectTimeoutMs = ctx.store.current?.inbound.timeouts.connectMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    proxy.proxy(socket, { host: destination.host, port: destination.port, connectTimeoutMs }, head, metrics);
  }

  /**
   * Opaque TCP another sidecar carried over mTLS (ALPN petrel-tcp/1): the caller is its certificate,
   * the AccessPolicy decides by identity alone (a rule with paths or methods cannot match TCP), and
   * the bytes go to where the caller's app was connecting (the redirected destination), or to the
   * app on a direct connection.
   */
  opaqueFromSidecar(socket: TLSSocket, destination: OriginalDestination | undefined, proxy: OpaqueTcpProxy): void {
    const ctx = this.ctx;
    // A protocol may half-close (the caller's FIN, the app still answering), as over plain TCP.
    socket.allowHalfOpen = true;
    const peer = meshPeer(socket);
    const metrics = ctx.metrics.tcp.series('inbound', ctx.self.service, ctx.metrics.boundedPeer(peer?.serviceAccount));
    const inbound = ctx.store.current?.inbound;
    const verdict = inbound?.access?.checkConnection(true, peer) ?? ALLOWED;
    if (verdict !== ALLOWED) {
      this.#deniedTcp ??= ctx.metrics.authzDeniedCounter(ctx.self.service);
      this.#deniedTcp(peer?.serviceAccount);
      ctx.log.info({ peer: peer?.uri, service: ctx.self.service }, 'opaque TCP refused by the AccessPolicy');
      return proxy.refuse(socket, metrics);
    }
    const app = ctx.app === undefined ? undefined : parseAuthority(ctx.app);
    const target = destination ?? (app?.port === undefined ? undefined : { host: app.host, port: app.port });
    if (target === undefined || (destination !== undefined && this.classify(destination) === 'refuse')) return proxy.refuse(socket, metrics);
    const connectTimeoutMs = inbound?.timeouts.connectMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    proxy.proxy(socket, { host: target.host, port: target.port, connectTimeoutMs }, Buffer.alloc(0), metrics);
  }

  #deniedTcp: ((peer: string | undefined) => void) | undefined;

  protected accept(exchange: Exchange, upgrade: boolean): void {
    const ctx = this.ctx;
    // accept
    const target = acceptRequest(exchange, upgrade);
    // The caller is who its certificate says, never what its headers say.
    const identity = meshPeer(exchange.socket);
    let peer: PeerSeries;
    if (identity !== undefined) {
      exchange.tls = true;
      exchange.peerIdentity = identity;
      exchange.peer = identity.serviceAccount;
      peer = this.#identityPeer(identity.uri, identity.serviceAccount);
    } else {
      if (!this.#trustPlaintextHeaders()) {
        exchange.peer = undefined;
        exchange.callerDeadlineMs = undefined;
      }
      peer = this.#peer(exchange.peer);
    }
    exchange.metrics = peer.metrics;
    exchange.counters = peer.counters;
    if (target instanceof ProxyError) return reject(ctx, exchange, target, 'bad_request');
    if (exchange.requestHeaders[EXPLAIN_HEADER] !== undefined) this.#explainRefusals.refuse(exchange.headers, exchange.requestId);
    if (ctx.tap.active) ctx.tap.begin(exchange, 'inbound', ctx.self.service, ctx.self.namespace);
    // route: everything inbound goes to the one local app, by this service's own routes
    const inbound = ctx.store.current?.inbound;
    const route = inbound === undefined ? undefined : matchInboundRoute(inbound, exchange.method, target.path);
    if (route === undefined) {
      const why = ctx.app === undefined ? 'this sidecar has no local app (--app)' : 'the sidecar has no configuration yet';
      return reject(ctx, exchange, new ProxyError('NR', why), 'no_route');
    }
    exchange.explain?.route(route.name);
    if (ctx.tracing !== undefined) {
      const span = ctx.tracing.serverSpan({
        parentHeaders: exchange.requestHeaders, method: exchange.method, path: target.path, serverAddress: ctx.self.service,
        serverPort: exchange.socket.localPort, grpc: exchange.grpc, peerIdentity: exchange.peerIdentity?.uri,
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
      entry = this.#series(this.ctx.metrics.boundedPeer(name), false);
      if (this.#byPeer.size < MAX_CACHED_PEERS) this.#byPeer.set(name, entry);
    }
    return entry;
  }

  /** The series of an mTLS caller: its service account, bounded like any peer label. */
  #identityPeer(uri: string, serviceAccount: string): PeerSeries {
    let entry = this.#byIdentity.get(uri);
    if (entry === undefined) {
      entry = this.#series(this.ctx.metrics.boundedPeer(serviceAccount), true);
      if (this.#byIdentity.size < MAX_CACHED_PEERS) this.#byIdentity.set(uri, entry);
    }
    return entry;
  }

  #series(peer: string, tls: boolean): PeerSeries {
    const key = `${tls ? 'tls' : 'plain'}:${peer}`;
    let entry = this.#byLabel.get(key);
    if (entry === undefined) {
      const ctx = this.ctx;
      entry = { metrics: ctx.metrics.stream('inbound', ctx.self.service, peer, 'default', tls), counters: ctx.metrics.routeCounters(ctx.self.service, peer, 'default', 'inbound') };
      this.#byLabel.set(key, entry);
    }
    return entry;
  }

}
