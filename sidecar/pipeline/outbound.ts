// The outbound request path, top to bottom: accept -> route -> policy chain -> balancer -> upstream.
// An app's call to another service arrives here (as an HTTP proxy request, with a Host header, or
// redirected by iptables) and leaves for one endpoint's inbound sidecar.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../config/compile.ts';
import { matchRoute, type Timeouts } from '../config/compiled.ts';
import { redirectedDestination } from '../interception/connection-interceptor.ts';
import type { OriginalDestination } from '../interception/original-destination.ts';
import type { OpaqueTcpProxy } from '../interception/opaque-tcp.ts';
import { rawLocalReply, TunnelRecord, tunnelConnect, tunnelUpgrade, type TunnelTarget } from '../listener/tunnel.ts';
import { Exchange, type ExchangeObserver } from '../proxy/exchange.ts';
import type { Flag } from '../proxy/flags.ts';
import { PEER_HEADER, setHeader, upstreamHeaders, type UpstreamHeaders } from '../proxy/headers.ts';
import { localReply } from '../proxy/local-reply.ts';
import { NO_BODY } from '../proxy/request-body.ts';
import { isLoopbackHost, parseAuthority, requestTarget, type RequestTarget } from '../routing/request-target.ts';
import type { ProxyContext } from './context.ts';
import { OutboundRequest } from './outbound-request.ts';
import { ProxyCall } from './proxy-call.ts';
import { recordExchange } from './record.ts';
import { SingleCallTarget } from './targets.ts';

/** Passthrough traffic has no policy: the built-in connect timeout, nothing else. */
const PASSTHROUGH_TIMEOUTS: Timeouts = { connectMs: DEFAULT_CONNECT_TIMEOUT_MS, perTryMs: undefined, totalMs: undefined };

export class OutboundPipeline implements ExchangeObserver {
  readonly #ctx: ProxyContext;
  readonly #passthroughMetrics;

  constructor(ctx: ProxyContext) {
    this.#ctx = ctx;
    this.#passthroughMetrics = ctx.metrics.stream('outbound', ctx.self.service, 'passthrough', 'default');
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const ctx = this.#ctx;
    const exchange = new Exchange(req, res, this);
    // accept
    const up = upstreamHeaders(req.rawHeaders, req.socket.remoteAddress);
    exchange.requestId = up.requestId;
    // route: host -> service (or passthrough), then path and method -> route policy
    const target = requestTarget(req.url ?? '/', req.headers.host);
    if (target === undefined) return this.#reply(exchange, 'NR', 'the request names no valid host (Host header or absolute URI)');
    const snapshot = ctx.store.current;
    if (snapshot === undefined) return this.#reply(exchange, 'UH', 'the sidecar has no configuration yet');
    // Absolute-form requests name their authority in the request line; it wins over Host (RFC 9112 §3.2.2).
    if (target.absoluteForm) setHeader(up.headers, 'host', target.authority);
    let service = snapshot.hosts.get(target.host);
    const redirectedFrom = service === undefined ? redirectedDestination(req.socket) : undefined;
    service ??= redirectedFrom && snapshot.addresses.get(redirectedFrom.address);
    if (service === undefined) return this.#passthrough(exchange, target, up, snapshot.passthrough, redirectedFrom);
    const route = matchRoute(service, req.method ?? 'GET', target.path);
    exchange.metrics = route.metrics;
    up.headers.push(PEER_HEADER, ctx.self.service);
    // policy chain -> balancer -> upstream (outbound-request.ts, proxy-call.ts)
    new OutboundRequest(ctx, exchange, service, route, target.path, up).run();
  };

  /** To a host outside the mesh: the address iptables redirected from, else the one the request names. */
  #passthrough(exchange: Exchange, target: RequestTarget, up: UpstreamHeaders, allowed: boolean, redirectedFrom: OriginalDestination | undefined): void {
    exchange.metrics = this.#passthroughMetrics;
    const refusal = this.#passthroughRefusal(target, allowed);
    if (refusal !== undefined) return this.#reply(exchange, 'NR', refusal);
    const address = redirectedFrom?.address ?? `${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port ?? 80}`;
    const timeouts = this.#ctx.store.current?.inbound.timeouts ?? PASSTHROUGH_TIMEOUTS;
    new ProxyCall(this.#ctx, exchange, {
      target: new SingleCallTarget({ dispatcher: this.#ctx.pools.agent(timeouts.connectMs), origin: `http://${address}`, label: `passthrough ${address}` }),
      path: target.path, headers: up.headers, body: up.hasBody ? { kind: 'stream', stream: exchange.req } : NO_BODY,
      timeouts: PASSTHROUGH_TIMEOUTS, retry: undefined, counters: undefined, propagateDeadline: false, traceAttempts: true,
    }).start();
  }

  /** Why a request to a host outside the mesh may not pass through, or undefined when it may. */
  #passthroughRefusal(target: RequestTarget, allowed: boolean): string | undefined {
    if (!allowed) return `${target.host} is not a mesh service and passthrough is off`;
    if ((target.port ?? 80) === this.#ctx.outboundPort && isLoopbackHost(target.host)) {
      return `refusing to forward to this sidecar's own outbound listener (${target.authority})`;
    }
    return undefined;
  }

  #reply(exchange: Exchange, flag: 'NR' | 'UH', message: string): void {
    exchange.metrics ??= this.#passthroughMetrics;
    exchange.setFlag(flag);
    localReply(exchange.res, flag, message, undefined, exchange.requestId);
  }

  /** HTTP Upgrade (WebSocket and others): routed like a request, then tunnelled as bytes. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const ctx = this.#ctx;
    const up = upstreamHeaders(req.rawHeaders, req.socket.remoteAddress, true);
    const record = new TunnelRecord(this.#passthroughMetrics, req.method ?? 'GET', 101);
    const fail = (flag: Flag, message: string) => {
      rawLocalReply(socket, flag, message, up.requestId);
      record.done(flag);
    };
    const target = requestTarget(req.url ?? '/', req.headers.host);
    const snapshot = ctx.store.current;
    if (target === undefined) return fail('NR', 'the request names no valid host (Host header or absolute URI)');
    if (snapshot === undefined) return fail('UH', 'the sidecar has no configuration yet');
    if (target.absoluteForm) setHeader(up.headers, 'host', target.authority);
    let service = snapshot.hosts.get(target.host);
    const redirectedFrom = service === undefined ? redirectedDestination(req.socket) : undefined;
    service ??= redirectedFrom && snapshot.addresses.get(redirectedFrom.address);
    let tunnel: TunnelTarget;
    if (service !== undefined) {
      record.metrics = service.defaultRoute.metrics;
      const endpoint = service.balancer.pick();
      if (endpoint === undefined) return fail(service.endpoints.length === 0 ? 'UH' : 'UO', `service ${service.id} has no available endpoint`);
      up.headers.push(PEER_HEADER, ctx.self.service);
      tunnel = { host: endpoint.host, port: endpoint.port, connectTimeoutMs: service.defaultRoute.timeouts.connectMs, label: endpoint.destination.label };
    } else {
      const refusal = this.#passthroughRefusal(target, snapshot.passthrough);
      if (refusal !== undefined) return fail('NR', refusal);
      tunnel = redirectedFrom === undefined
        ? { host: target.host, port: target.port ?? 80, connectTimeoutMs: snapshot.inbound.timeouts.connectMs, label: `passthrough ${target.authority}` }
        : { host: redirectedFrom.host, port: redirectedFrom.port, connectTimeoutMs: snapshot.inbound.timeouts.connectMs, label: `passthrough ${redirectedFrom.address}` };
    }
    tunnelUpgrade(req, socket, head, tunnel, target.path, up.headers, up.requestId, record.done);
  };

  /** CONNECT host:port (HTTPS through HTTP_PROXY, or any TCP): opaque passthrough. */
  readonly connect = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const { done } = new TunnelRecord(this.#passthroughMetrics, 'CONNECT', 200);
    const target = parseAuthority(req.url ?? '');
    const snapshot = this.#ctx.store.current;
    if (target === undefined || target.port === undefined) {
      rawLocalReply(socket, 'NR', `CONNECT needs host:port, got "${req.url ?? ''}"`);
      return done('NR');
    }
    const authority = { host: target.host, port: target.port, authority: req.url ?? '', path: '', absoluteForm: true };
    const refusal = this.#passthroughRefusal(authority, snapshot?.passthrough ?? false);
    if (refusal !== undefined) {
      rawLocalReply(socket, 'NR', refusal);
      return done('NR');
    }
    const connectTimeoutMs = snapshot?.inbound.timeouts.connectMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    tunnelConnect(socket, head, { host: target.host, port: target.port, connectTimeoutMs, label: `passthrough ${req.url ?? ''}` }, done);
  };

  /**
   * A redirected connection that is not HTTP/1.x: opaque TCP to where the app was connecting. It
   * reaches a mesh endpoint's inbound sidecar through that pod's own interception.
   */
  opaque(socket: Socket, destination: OriginalDestination, head: Buffer, proxy: OpaqueTcpProxy): void {
    const snapshot = this.#ctx.store.current;
    const service = snapshot?.addresses.get(destination.address);
    const metrics = this.#ctx.metrics.tcp.series('outbound', this.#ctx.self.service, service?.name ?? 'passthrough');
    if (service === undefined && snapshot?.passthrough === false) return proxy.refuse(socket, metrics);
    const connectTimeoutMs = service?.defaultRoute.timeouts.connectMs ?? snapshot?.inbound.timeouts.connectMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    proxy.proxy(socket, { host: destination.host, port: destination.port, connectTimeoutMs }, head, metrics);
  }

  onExchangeDone(exchange: Exchange): void {
    recordExchange(this.#ctx, exchange, 'outbound');
  }
}
