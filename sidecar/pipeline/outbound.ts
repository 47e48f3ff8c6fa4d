// The outbound request path, top to bottom: accept -> route -> the route's chain of steps (policy
// -> balancer -> upstream). An app's call to another service arrives here (as an HTTP proxy
// request, with a Host header, or redirected by iptables) and leaves for one endpoint's inbound
// sidecar. HTTP/1.1 requests, HTTP/2 streams (gRPC calls among them) and Upgrades take the same
// path; CONNECT and opaque TCP are routed by the same resolveOutbound(). A CONNECT to a mesh
// service is not a tunnel: its connection is served by this listener, so each request in it gets
// the whole pipeline.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../config/compile.ts';
import { matchRoute, type RoutePolicy, type Timeouts } from '../config/compiled.ts';
import { firstMatch } from '../routing/route-match.ts';
import { SingleCallTarget } from '../balancer/call-target.ts';
import { BodyStep } from '../chain/body-step.ts';
import { DispatchStep } from '../chain/dispatch-step.ts';
import { reject } from '../chain/reject.ts';
import { redirectedDestination } from '../interception/connection-interceptor.ts';
import type { OriginalDestination } from '../interception/original-destination.ts';
import type { OpaqueTcpProxy } from '../interception/opaque-tcp.ts';
import { TunnelRecord, tunnelConnect } from '../listener/tunnel.ts';
import type { Exchange, UpgradeDownstream } from '../proxy/exchange.ts';
import { ProxyError } from '../proxy/flags.ts';
import { HOPS_HEADER, MAX_HOPS, PEER_HEADER, setHeader } from '../proxy/headers.ts';
import { rawLocalReply } from '../proxy/local-reply.ts';
import { parseAuthority } from '../routing/request-target.ts';
import { resolveOutbound, type PassthroughDestination } from '../routing/resolve-outbound.ts';
import type { ProxyContext } from './context.ts';
import { acceptRequest } from './accept.ts';
import { EXPLAIN_HEADER, Explanation, stripExplainHeader, wantsExplain } from '../telemetry/explain.ts';
import { PipelineEntryPoints } from './entry-points.ts';

/** Passthrough traffic has no policy: the built-in connect timeout, nothing else. */
const PASSTHROUGH_TIMEOUTS: Timeouts = { connectMs: DEFAULT_CONNECT_TIMEOUT_MS, perTryMs: undefined, totalMs: undefined };

export class OutboundPipeline extends PipelineEntryPoints {
  readonly #passthroughMetrics;

  readonly #serveTunnel: (socket: Socket, head: Buffer) => void;

  /**
   * @param reattach hands a refused Upgrade's connection back to the HTTP/1.1 server
   * @param serveTunnel serves a CONNECT tunnel's connection as a new one on this listener
   */
  constructor(ctx: ProxyContext, reattach: UpgradeDownstream['reattach'], serveTunnel: (socket: Socket, head: Buffer) => void) {
    super(ctx, 'outbound', reattach);
    this.#passthroughMetrics = ctx.metrics.stream('outbound', ctx.self.service, 'passthrough', 'default', false);
    this.#serveTunnel = serveTunnel;
  }

  protected accept(exchange: Exchange, upgrade: boolean): void {
    const ctx = this.ctx;
    // accept: header hygiene, and the checks that make a request the client's mistake (400 DPE)
    exchange.metrics = this.#passthroughMetrics;
    const target = acceptRequest(exchange, upgrade);
    if (target instanceof ProxyError) return reject(ctx, exchange, target, 'bad_request');
    // The pod's own app may ask why (this listener serves only the pod's processes); the header
    // never goes upstream.
    const explain = exchange.requestHeaders[EXPLAIN_HEADER];
    if (explain !== undefined) {
      stripExplainHeader(exchange.headers);
      if (wantsExplain(explain)) exchange.explain = new Explanation(true);
    }
    if (exchange.hops >= MAX_HOPS) {
      return reject(ctx, exchange, new ProxyError('NR', `the request has passed ${exchange.hops} outbound sidecars: a forwarding loop`, 508), 'loop');
    }
    const snapshot = ctx.store.current;
    if (snapshot === undefined) return reject(ctx, exchange, new ProxyError('UH', 'the sidecar has no configuration yet'), 'no_endpoint');
    // route: host -> service (or passthrough), then path and method -> the route's chain
    // Absolute-form requests name their authority in the request line; it wins over Host (RFC 9112 §3.2.2).
    if (target.absoluteForm) setHeader(exchange.headers, 'host', target.authority);
    const redirectedFrom = snapshot.hosts.has(target.host) ? undefined : redirectedDestination(exchange.socket);
    const destination = resolveOutbound(snapshot, { host: target.host, port: target.port, redirectedFrom }, ctx.selfAddresses);
    if (destination instanceof ProxyError) return reject(ctx, exchange, destination, 'no_route');
    exchange.headers.push(HOPS_HEADER, String(exchange.hops + 1));
    if (destination.kind === 'passthrough') return this.#passthrough(exchange, destination);
    if (ctx.tap.active) ctx.tap.begin(exchange, 'outbound', destination.name, destination.namespace);
    let route: RoutePolicy;
    const routing = destination.routing;
    if (routing !== undefined) {
      // HTTPRoutes attached to the service: the first match in precedence order picks the rule.
      const match = firstMatch(routing.matches, exchange);
      if (match === undefined) {
        return reject(ctx, exchange, new ProxyError('NR', `no HTTPRoute rule for ${destination.name} matches ${exchange.method} ${target.path.split('?')[0]}`), 'no_route');
      }
      exchange.matchedPrefix = match.prefix;
      route = routing.rules[match.rule] as RoutePolicy;
    } else route = matchRoute(destination, exchange.method, target.path);
    exchange.metrics = route.metrics;
    exchange.counters = route.counters;
    exchange.explain?.route(route.name);
    exchange.headers.push(PEER_HEADER, ctx.self.service);
    route.chain.run(exchange);
  }

  /** To a host outside the mesh: no policy, one attempt, the built-in connect timeout. */
  #passthrough(exchange: Exchange, destination: PassthroughDestination): void {
    const ctx = this.ctx;
    const connectMs = ctx.store.current?.inbound.timeouts.connectMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const target = new SingleCallTarget({
      dispatcher: ctx.pools.agent(connectMs), origin: `http://${destination.address}`, host: destination.host, port: destination.port,
      h2: ctx.pools.passthroughH2(destination.host, destination.port, connectMs), label: `passthrough ${destination.address}`,
    });
    const dispatch = new DispatchStep(ctx, { target, timeouts: PASSTHROUGH_TIMEOUTS, retry: undefined, propagateDeadline: false, traceAttempts: true });
    new BodyStep(false, dispatch).run(exchange);
  }

  /**
   * CONNECT host:port. To a mesh service (grpc_proxy, HTTP_PROXY with a client that tunnels
   * everything), the tunnelled connection is served by this listener: HTTP/1.1 or HTTP/2, each
   * request routed and given its policies. To anything else (HTTPS through HTTP_PROXY, any TCP),
   * an opaque tunnel.
   */
  readonly connect = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const { done } = new TunnelRecord(this.#passthroughMetrics, 'CONNECT', 200);
    const refuse = (flag: 'NR' | 'DPE' | 'UH', message: string) => {
      rawLocalReply(socket, flag, message);
      done(flag);
    };
    const target = parseAuthority(req.url ?? '');
    if (target === undefined || target.port === undefined) return refuse('DPE', `CONNECT needs host:port, got "${(req.url ?? '').slice(0, 64)}"`);
    const snapshot = this.ctx.store.current;
    if (snapshot === undefined) return refuse('UH', 'the sidecar has no configuration yet');
    const destination = resolveOutbound(snapshot, { host: target.host, port: target.port, redirectedFrom: undefined }, this.ctx.selfAddresses);
    if (destination instanceof ProxyError) return refuse('NR', destination.message);
    if (destination.kind === 'service') {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      done(undefined);
      this.#serveTunnel(socket as Socket, head);
      return;
    }
    const host = destination.host;
    tunnelConnect(socket, head, { host, port: target.port, connectTimeoutMs: snapshot.inbound.timeouts.connectMs, label: `passthrough ${req.url ?? ''}` }, done);
  };

  /**
   * A redirected connection that is not HTTP/1.x: opaque TCP to where the app was connecting. It
   * reaches a mesh endpoint's inbound sidecar through that pod's own interception.
   */
  opaque(socket: Socket, destination: OriginalDestination, head: Buffer, proxy: OpaqueTcpProxy): void {
    const ctx = this.ctx;
    const snapshot = ctx.store.current;
    const resolved = snapshot === undefined ? undefined
      : resolveOutbound(snapshot, { host: destination.host, port: destination.port, redirectedFrom: destination }, ctx.selfAddresses);
    const service = resolved !== undefined && !(resolved instanceof ProxyError) && resolved.kind === 'service' ? resolved : undefined;
    const metrics = ctx.metrics.tcp.series('outbound', ctx.self.service, service?.name ?? 'passthrough');
    if (resolved instanceof ProxyError) return proxy.refuse(socket, metrics);
    const connectTimeoutMs = service?.defaultRoute.timeouts.connectMs ?? snapshot?.inbound.timeouts.connectMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    // A meshed pod's address: the bytes go inside mTLS to its sidecar, which must present the
    // identity the snapshot lists for it (an app's own TLS or database protocol included).
    const endpointTls = service?.endpoints.find((e) => e.address.toLowerCase() === destination.address)?.tls;
    const tls = endpointTls === undefined ? undefined : { client: endpointTls, observer: ctx.tlsObserver };
    proxy.proxy(socket, { host: destination.host, port: destination.port, connectTimeoutMs, tls }, head, metrics);
  }

}
