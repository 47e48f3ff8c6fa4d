// One request/response pair as it crosses the sidecar: the request as it will go upstream, what
// the chain decided (flags), where it went, and the bookkeeping done once when it is over. It is
// the one object a request allocates besides its attempts: the chain's steps are built once per
// snapshot and keep their per-request state here.
//
// The downstream is an HTTP/1.1 response, the raw socket of an Upgrade request (which owns its
// connection until the upstream answers), or an HTTP/2 stream; steps reply through reply() and
// never need to know which.
import { STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { constants as h2constants, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Span } from '@opentelemetry/api';
import type { StreamMetrics } from '../telemetry/request-series.ts';
import type { RouteCounters } from '../telemetry/metrics.ts';
import { NO_FLAGS, type Flag } from './flags.ts';
import { grpcStatusLabel, isGrpcContentType } from './grpc.ts';
import { h2LocalReply, localReply, rawLocalReply } from './local-reply.ts';
import { NO_BODY, type RequestBody } from './request-body.ts';
import type { UpstreamHeaders } from './headers.ts';
import type { PeerIdentity } from '../identity/spiffe.ts';
import type { HeaderModifier } from './header-modifier.ts';
import { EXPLAIN_HEADER, type Explanation } from '../telemetry/explain.ts';

export interface ExchangeObserver {
  /** Called once, when the downstream response has finished or the client went away. */
  onExchangeDone(exchange: Exchange): void;
}

/** A step that suspended a request (queued it, delayed it) and continues it later. */
export interface Resumable {
  resume(exchange: Exchange): void;
}

/** What an Upgrade request brings besides its head: its raw socket and the bytes read past the head. */
export interface UpgradeDownstream {
  readonly socket: Duplex;
  readonly head: Buffer;
  /** Hands a connection whose upgrade was refused back to the HTTP server, to parse its next request. */
  readonly reattach: (socket: Duplex, head: Buffer) => void;
}

/** An HTTP/2 request as the listener received it: its stream, head and connection. */
export interface H2Downstream {
  readonly stream: ServerHttp2Stream;
  readonly headers: IncomingHttpHeaders;
  /** Flat [name, value, ...], pseudo-headers included. */
  readonly rawHeaders: string[];
  /** The client sent END_STREAM with its headers: no body. */
  readonly endStream: boolean;
  /** The TCP connection the session runs on (for its addresses and original destination). */
  readonly socket: Socket;
}

export class Exchange {
  /** The HTTP/1.1 request; undefined for an HTTP/2 stream, which has `h2` instead. */
  readonly req: IncomingMessage | undefined;
  /** The HTTP response; undefined for an Upgrade request, which has `upgrade` instead. */
  readonly res: ServerResponse | undefined;
  readonly upgrade: UpgradeDownstream | undefined;
  readonly h2: H2Downstream | undefined;
  /** The request's headers as received, for the trace parent and the log's authority. */
  readonly requestHeaders: IncomingHttpHeaders;
  /** Where the request body is read from (the IncomingMessage, or the HTTP/2 stream). */
  readonly bodySource: Readable;
  /** The connection the request came on. */
  readonly socket: Socket;
  /** A gRPC call (HTTP/2 with content-type application/grpc*): local replies are trailers-only. */
  readonly grpc: boolean;
  /** The call's grpc-status once known (for metrics), undefined for plain HTTP. */
  grpcStatus: number | undefined;
  readonly startedAt = performance.now();
  readonly method: string;
  /** origin-form path and query, as sent upstream. */
  path: string;
  /** Flat [name, value, ...] headers for the upstream, after hop-by-hop hygiene. */
  headers: string[] = [];
  requestId = '';
  /** The calling sidecar's service (x-petrel-peer), inbound. */
  peer: string | undefined;
  // What an HTTPRoute rule decided for this request (outbound; unset without routes):
  /** The PathPrefix the rule matched by (ReplacePrefixMatch rewrites and redirects replace it). */
  matchedPrefix: string | undefined;
  /** A URLRewrite hostname: the authority sent upstream (Host, :authority). */
  rewrittenAuthority: string | undefined;
  /** A ResponseHeaderModifier, applied to the upstream's response head. */
  responseHeaders: HeaderModifier | undefined;
  /** Inbound: the request came over mesh mTLS (a verified client certificate). */
  tls = false;
  /** Inbound: the caller's identity from its verified certificate; undefined for plaintext. */
  peerIdentity: PeerIdentity | undefined;
  /** Outbound sidecars the request has passed (x-petrel-hops), for the loop guard. */
  hops = 0;
  hasBody = false;
  /** The caller's remaining time (x-petrel-deadline-ms), when a sidecar sent one. */
  callerDeadlineMs: number | undefined;
  /** A total timeout that overrides the route's (the caller's deadline, inbound). */
  totalMs: number | undefined;
  body: RequestBody = NO_BODY;
  metrics: StreamMetrics | undefined;
  counters: RouteCounters | undefined;
  flags: string = NO_FLAGS;
  /** The endpoint of the last attempt, for logs. */
  upstream = '';
  attempts = 0;
  /** The SERVER span of an inbound request, when tracing is on. */
  span: Span | undefined;
  /** The decisions recorded for `petrel-explain` or a tap with --explain; undefined (the rule) when nobody asked. */
  explain: Explanation | undefined;
  /** The taps this request was sampled into (telemetry/tap.ts); undefined when none. */
  tap: string[] | undefined;
  /** The upstream attempt in progress, to cancel when the client goes away. */
  attempt: { abort(reason: Error): void } | undefined;
  /** The step that suspended this request, to continue it (concurrency queue, fault delay). */
  parked: Resumable | undefined;
  /** Set by a step that holds a resource until the exchange ends (a concurrency slot). */
  release: ((exchange: Exchange) => void) | undefined;
  /** The status recorded for an Upgrade exchange (101 once switched, else the relayed status). */
  upgradeStatus = 0;
  readonly #observer: ExchangeObserver;
  #cutByProxy = false;
  #over = false;

  /** An HTTP/1.1 request; `upgrade` for an Upgrade request, which has no ServerResponse. */
  constructor(req: IncomingMessage, res: ServerResponse | undefined, observer: ExchangeObserver, upgrade?: UpgradeDownstream);
  constructor(req: undefined, res: undefined, observer: ExchangeObserver, upgrade: undefined, h2: H2Downstream);
  constructor(req: IncomingMessage | undefined, res: ServerResponse | undefined, observer: ExchangeObserver, upgrade?: UpgradeDownstream, h2?: H2Downstream) {
    this.req = req;
    this.res = res;
    this.upgrade = upgrade;
    this.h2 = h2;
    this.#observer = observer;
    if (h2 !== undefined) {
      const headers = h2.headers;
      this.requestHeaders = headers;
      this.bodySource = h2.stream;
      this.socket = h2.socket;
      this.method = (headers[':method'] as string | undefined) ?? 'GET';
      this.path = (headers[':path'] as string | undefined) ?? '/';
      this.grpc = isGrpcContentType(headers['content-type']);
      (h2.stream as ExchangeStream)[EXCHANGE] = this;
      h2.stream.once('close', onStreamClose);
      return;
    }
    const request = req as IncomingMessage;
    this.requestHeaders = request.headers;
    this.bodySource = request;
    this.socket = request.socket;
    this.method = request.method ?? 'GET';
    this.path = request.url ?? '/';
    this.grpc = false;
    if (res !== undefined) {
      (res as ExchangeResponse)[EXCHANGE] = this;
      res.on('close', onResponseClose);
    } else if (upgrade !== undefined) {
      // An Upgrade's client that leaves before its outcome (queued, delayed, waiting upstream).
      upgrade.socket.once('close', () => {
        if (this.#over) return;
        this.setFlag('DC');
        this.attempt?.abort(new Error('downstream closed'));
        this.closed();
      });
    }
  }

  /** Takes what header hygiene produced for the upstream. */
  prepare(up: UpstreamHeaders): void {
    this.headers = up.headers;
    this.peer = up.peer;
    this.requestId = up.requestId;
    this.hasBody = up.hasBody;
    this.callerDeadlineMs = up.deadlineMs;
    this.hops = up.hops;
  }

  /** The step that parked this exchange continues it (a concurrency slot freed, a delay over). */
  granted(): void {
    const parked = this.parked;
    this.parked = undefined;
    parked?.resume(this);
  }

  /** Adds a flag once (a retried request can fail the same way twice). */
  setFlag(flag: Flag): void {
    if (this.flags === NO_FLAGS) this.flags = flag;
    else if (!this.flags.split(',').includes(flag)) this.flags = `${this.flags},${flag}`;
  }

  /** The authority the client named (:authority, else Host). */
  get authority(): string {
    if (this.rewrittenAuthority !== undefined) return this.rewrittenAuthority;
    const headers = this.requestHeaders;
    return (headers[':authority'] as string | undefined) ?? headers.host ?? '';
  }

  /** The grpc_status metric label: "" for plain HTTP. */
  get grpcStatusLabel(): string {
    return this.grpc ? grpcStatusLabel(this.grpcStatus) : '';
  }

  /** True once the client is gone or the answer is complete: a waiting step drops the request. */
  get gone(): boolean {
    if (this.res !== undefined) return this.res.destroyed || this.res.writableEnded;
    if (this.h2 !== undefined) return this.#over || this.h2.stream.destroyed || this.h2.stream.writableEnded;
    return this.#over || this.upgrade!.socket.destroyed;
  }

  /** A locally generated answer (`petrel-error: flag`), on whichever downstream this is. */
  reply(flag: Flag, message: string, status: number, extraHeaders?: Record<string, string>): void {
    this.setFlag(flag);
    if (this.explain?.header === true) extraHeaders = { ...extraHeaders, [EXPLAIN_HEADER]: this.explain.compact() };
    const h2 = this.h2;
    if (h2 !== undefined) {
      const code = h2LocalReply(h2.stream, this.grpc, flag, message, status, this.requestId, extraHeaders);
      if (code !== undefined) this.grpcStatus = code;
      return;
    }
    if (this.res !== undefined) {
      // A request the sidecar could not read leaves nothing on the connection worth keeping.
      if (flag === 'DPE') this.res.shouldKeepAlive = false;
      localReply(this.res, flag, message, status, this.requestId, extraHeaders);
      return;
    }
    rawLocalReply((this.upgrade as UpgradeDownstream).socket, flag, message, this.requestId, status, extraHeaders);
    this.upgradeStatus = status;
    this.closed();
  }

  /** A redirect the sidecar answers itself (an HTTPRoute RequestRedirect): not an error, so no flag. */
  redirect(status: number, location: string): void {
    const h2 = this.h2;
    if (h2 !== undefined) {
      if (!h2.stream.destroyed && !h2.stream.headersSent) h2.stream.respond({ ':status': status, location, 'content-length': 0 }, { endStream: true });
      return;
    }
    if (this.res !== undefined) {
      if (!this.res.headersSent) this.res.writeHead(status, { location, 'content-length': 0 }).end();
      return;
    }
    const socket = (this.upgrade as UpgradeDownstream).socket;
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nlocation: ${location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    this.upgradeStatus = status;
    this.closed();
  }

  /** Ends a response that already started (its upstream failed): the client sees the stream cut. */
  cut(): void {
    this.#cutByProxy = true;
    if (this.h2 !== undefined) {
      // A gRPC client reads a status from trailers; anything else sees the stream reset.
      if (this.grpc) this.reply('UC', 'the upstream failed while the response was relayed', 502);
      else this.h2.stream.close(h2constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    if (this.res !== undefined) this.res.destroy();
    else this.upgrade?.socket.destroy();
  }

  get durationSeconds(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  /** True when the client went away before the response was complete. */
  get downstreamClosed(): boolean {
    if (this.h2 !== undefined) {
      const stream = this.h2.stream;
      return stream.closed ? stream.rstCode !== h2constants.NGHTTP2_NO_ERROR && !this.#cutByProxy : !this.#over;
    }
    return this.res !== undefined ? !this.res.writableFinished : !this.#over;
  }

  /** The status to record: what the client got, 499 when it got nothing. */
  get status(): number {
    if (this.h2 !== undefined) {
      const stream = this.h2.stream;
      return stream.headersSent ? Number(stream.sentHeaders[':status'] ?? 200) : 499;
    }
    if (this.res === undefined) return this.upgradeStatus || 499;
    return this.res.headersSent ? this.res.statusCode : 499;
  }

  /** Called once when the downstream response closes, finished or not (for an Upgrade: when its outcome is known). */
  closed(): void {
    if (this.#over) return;
    this.#over = true;
    if (!this.#cutByProxy && (this.res !== undefined ? !this.res.writableFinished : this.h2 !== undefined && this.downstreamClosed)) {
      this.setFlag('DC');
      if (this.grpc && this.grpcStatus === undefined) this.grpcStatus = 1; // CANCELLED
      this.attempt?.abort(new Error('downstream closed'));
    }
    if (this.release !== undefined) this.release(this);
    this.#observer.onExchangeDone(this);
  }
}

// One listener function for every response, rather than a closure per request.
const EXCHANGE = Symbol('petrel.exchange');
type ExchangeResponse = ServerResponse & { [EXCHANGE]?: Exchange };
function onResponseClose(this: ExchangeResponse): void {
  this[EXCHANGE]?.closed();
}
type ExchangeStream = ServerHttp2Stream & { [EXCHANGE]?: Exchange };
function onStreamClose(this: ExchangeStream): void {
  this[EXCHANGE]?.closed();
}
