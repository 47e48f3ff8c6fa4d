// One attempt of an HTTP/2 request on one upstream HTTP/2 session, relayed stream to stream with
// flow control both ways (a slow reader pauses the upstream stream, whose window then stops the
// upstream). Its owner (the call's retry loop) decides at the response whether to relay or retry.
//
// A gRPC response may say it failed only in its trailers. When a retry is still possible, the
// response headers are held until the first frame after them (linkerd's peek_trailers): trailers
// first means a status the retry loop can act on before anything reached the client; a DATA frame
// first means the call is answering, and it is relayed from then on, never retried.
import { constants, type ClientHttp2Stream, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Span } from '@opentelemetry/api';
import type { Clock, TimerHandle } from '../policy/clock.ts';
import type { Endpoint } from '../upstream/endpoint.ts';
import type { H2SessionPool, PooledSession } from '../upstream/h2-session-pool.ts';
import { ProxyError } from './flags.ts';
import { parseGrpcStatus } from './grpc.ts';
import type { RequestBody } from './request-body.ts';
import type { Attempt, AttemptOwner } from './upstream-attempt.ts';
import { ERROR_HEADER } from './local-reply.ts';

const END_STREAM = constants.NGHTTP2_FLAG_END_STREAM;

export interface H2AttemptRequest {
  /** Flat [name, value, ...], pseudo-headers first. */
  readonly headers: string[];
  readonly body: RequestBody;
  /** Per-try timeout until the response headers, in ms; undefined for none. */
  readonly perTryMs: number | undefined;
  /** Hold the response until its first frame, to read a gRPC status from trailers (see above). */
  readonly peek: boolean;
}

export class H2Attempt implements Attempt {
  readonly owner: AttemptOwner;
  readonly endpoint: Endpoint | undefined;
  readonly label: string;
  readonly startedAt: number;
  readonly panic: boolean;
  span: Span | undefined;
  readonly #clock: Clock;
  #stream: ClientHttp2Stream | undefined;
  #pool: H2SessionPool | undefined;
  #session: PooledSession | undefined;
  #perTry: TimerHandle | undefined;
  #status = 0;
  /** Headers held while peeking for trailers (raw, :status first). */
  #held: string[] | undefined;
  #relaying = false;
  #discarded = false;
  #finished = false;
  #abortReason: Error | undefined;
  #trailers: IncomingHttpHeaders | undefined;
  /** The URX flag to add to the relayed response, set by the owner. */
  errorFlag: string | undefined;

  constructor(owner: AttemptOwner, endpoint: Endpoint | undefined, label: string, clock: Clock, panic: boolean) {
    this.owner = owner;
    this.endpoint = endpoint;
    this.label = label;
    this.#clock = clock;
    this.startedAt = clock.now();
    this.panic = panic;
  }

  start(pool: H2SessionPool, request: H2AttemptRequest): void {
    let stream: ClientHttp2Stream;
    try {
      const pooled = pool.acquire();
      this.#pool = pool;
      this.#session = pooled;
      const body = request.body;
      stream = pooled.session.request(request.headers, { endStream: body.kind === 'none' });
      if (body.kind === 'buffered') stream.end(body.data);
      else if (body.kind === 'replay') body.replay.attach(stream);
      else if (body.kind === 'stream') {
        body.stream.pipe(stream);
        body.stream.once('error', () => stream.close(constants.NGHTTP2_CANCEL));
      }
    } catch (err) {
      this.#fail(err as Error);
      return;
    }
    this.#stream = stream;
    if (request.perTryMs !== undefined) this.#perTry = this.#clock.setTimeout(onPerTryTimeout, request.perTryMs, this);
    const peek = request.peek;
    stream.on('response', (headers, flags, raw) => this.#onResponse(headers, flags, raw as unknown as string[], peek));
    stream.on('trailers', (trailers) => this.#onTrailers(trailers));
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('end', () => this.#onEnd());
    stream.on('error', (err) => this.#fail(stream.rstCode === constants.NGHTTP2_REFUSED_STREAM ? resetError(stream.rstCode, this.label, this.#status) : err));
    stream.on('close', () => this.#onClose());
  }

  perTryTimeout(): void {
    this.#perTry = undefined;
    this.abort(new ProxyError('UT', `${this.label}: no response headers within the per-try timeout`));
  }

  /** Stops the attempt; the owner hears of it through onAttemptFailed (once). */
  abort(reason: Error): void {
    if (this.#finished) return;
    this.#abortReason = reason;
    this.#stream?.close(constants.NGHTTP2_CANCEL);
    this.#fail(reason);
  }

  get #downstream(): ServerHttp2Stream {
    return this.owner.exchange.h2!.stream;
  }

  #onResponse(headers: IncomingHttpHeaders, flags: number, raw: string[], peek: boolean): void {
    const status = Number(headers[':status']);
    if (status < 200) return; // 1xx (100-continue): the listener answers those itself
    this.#clearPerTry();
    this.#status = status;
    const endStream = (flags & END_STREAM) !== 0;
    if (endStream) {
      // Trailers-only (or an empty response): everything is in these headers.
      this.#decide(headers, raw, parseGrpcStatus(headers['grpc-status']), true);
      return;
    }
    if (peek) {
      this.#held = raw;
      return;
    }
    this.#decide(headers, raw, undefined, false);
  }

  /** Asks the owner; relays the head, or discards the response for a retry. */
  #decide(headers: IncomingHttpHeaders, raw: string[], grpcStatus: number | undefined, endStream: boolean): boolean {
    if (!this.owner.onAttemptResponse(this, this.#status, headers, grpcStatus)) {
      this.#discarded = true;
      this.#stream?.close(constants.NGHTTP2_CANCEL);
      return false;
    }
    this.#relaying = true;
    const out = this.errorFlag === undefined ? raw : [...raw, ERROR_HEADER, this.errorFlag];
    this.owner.exchange.responseHeaders?.applyToList(out);
    const downstream = this.#downstream;
    if (downstream.destroyed || downstream.closed) return true;
    const options = endStream ? { endStream: true } : { waitForTrailers: true };
    try {
      downstream.respond(out, options);
    } catch (err) {
      // Node refuses what HTTP/2 cannot carry, such as a second Content-Type (HTTP/1.1 servers and
      // some HTTP/2 ones send them). Keep the first of each single-value field, as a browser reads
      // them; a head that still cannot go is the upstream's fault: 502 UC, never a crash.
      try {
        downstream.respond(firstOfEach(out), options);
      } catch {
        this.#relaying = false;
        this.abort(Object.assign(new Error(`${this.label} sent response headers HTTP/2 cannot carry: ${(err as Error).message}`), { code: 'ERR_UPSTREAM_RESPONSE_HEADERS' }));
        return false;
      }
    }
    if (!endStream) downstream.once('wantTrailers', () => this.#sendTrailers());
    return true;
  }

  #onData(chunk: Buffer): void {
    if (this.#discarded) return;
    const held = this.#held;
    if (held !== undefined) {
      // The call is answering: relay from here on, whatever its status turns out to be.
      this.#held = undefined;
      if (!this.#decide(headersOf(held), held, undefined, false)) return;
    }
    const downstream = this.#downstream;
    if (downstream.destroyed) return;
    if (!downstream.write(chunk)) {
      const upstream = this.#stream!;
      upstream.pause();
      downstream.once('drain', () => upstream.resume());
    }
  }

  #onTrailers(trailers: IncomingHttpHeaders): void {
    if (this.#discarded) return;
    this.#trailers = trailers;
    const held = this.#held;
    if (held !== undefined) {
      // Trailers right after the headers: the status is known before anything was relayed.
      this.#held = undefined;
      const merged = { ...headersOf(held), ...trailers };
      this.#decide(merged, held, parseGrpcStatus(trailers['grpc-status']), false);
    }
  }

  #onEnd(): void {
    if (this.#discarded || !this.#relaying) return;
    const downstream = this.#downstream;
    if (!downstream.destroyed && !downstream.writableEnded) downstream.end();
  }

  #sendTrailers(): void {
    const downstream = this.#downstream;
    if (downstream.destroyed || downstream.closed) return;
    const trailers = this.#trailers;
    try {
      downstream.sendTrailers(trailers === undefined ? {} : trailersOf(trailers));
    } catch {
      // Trailers HTTP/2 cannot carry (a pseudo-header, a connection-specific field): the stream is
      // reset rather than ended as if complete.
      downstream.close(constants.NGHTTP2_INTERNAL_ERROR);
    }
  }

  #onClose(): void {
    this.#clearPerTry();
    if (this.#session !== undefined) this.#pool!.release(this.#session);
    this.#session = undefined;
    const stream = this.#stream!;
    if (this.#finished) return;
    if (this.#discarded) {
      this.#finished = true;
      this.owner.onAttemptDiscarded(this);
      return;
    }
    if (stream.rstCode !== constants.NGHTTP2_NO_ERROR || (!this.#relaying && this.#held === undefined)) {
      this.#fail(resetError(stream.rstCode, this.label, this.#status));
      return;
    }
    if (this.#held !== undefined) {
      // The stream ended after its headers with neither data nor trailers: relay what there is.
      const held = this.#held;
      this.#held = undefined;
      if (!this.#decide(headersOf(held), held, undefined, false)) {
        this.#finished = true;
        this.owner.onAttemptDiscarded(this);
        return;
      }
      this.#onEnd();
    }
    this.#finished = true;
    this.owner.onAttemptEnd?.(this, parseGrpcStatus(this.#trailers?.['grpc-status']));
  }

  #fail(err: Error): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#clearPerTry();
    if (this.#discarded) {
      this.owner.onAttemptDiscarded(this);
      return;
    }
    this.owner.onAttemptFailed(this, this.#abortReason ?? err, this.#relaying);
  }

  #clearPerTry(): void {
    if (this.#perTry !== undefined) this.#clock.clearTimeout(this.#perTry);
    this.#perTry = undefined;
  }
}

function onPerTryTimeout(attempt: H2Attempt): void {
  attempt.perTryTimeout();
}

/** Fields HTTP/2 allows once (Node's list, the ones a response can carry). */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'age', 'content-encoding', 'content-language',
  'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag', 'expires',
  'last-modified', 'location', 'retry-after', 'x-content-type-options',
]);

/** Raw headers with only the first of each single-value field. */
function firstOfEach(raw: string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (SINGLE_VALUE.has(name)) {
      if (seen.has(name)) continue;
      seen.add(name);
    }
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

/** An object view of raw headers, for the owner's decision (pseudo-headers included). */
function headersOf(raw: string[]): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (let i = 0; i < raw.length; i += 2) out[raw[i] as string] = raw[i + 1];
  return out;
}

/** Trailers without the symbol Node adds for sensitive headers (sendTrailers takes plain fields). */
function trailersOf(trailers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name of Object.keys(trailers)) {
    const value = trailers[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * Why a stream closed without a response. REFUSED_STREAM (and a stream the peer's GOAWAY says it
 * never processed) is a stream the peer never saw: safe to send again, so it counts as a connect
 * failure; anything else is a reset of a request that may have been processed.
 */
function resetError(rstCode: number, label: string, status: number): Error {
  const code = rstCode === constants.NGHTTP2_REFUSED_STREAM ? 'ERR_HTTP2_REFUSED_STREAM' : 'ERR_HTTP2_STREAM_RESET';
  const where = status === 0 ? 'before its response' : `after status ${status}`;
  return Object.assign(new Error(`${label} reset the HTTP/2 stream ${where} (code ${rstCode})`), { code });
}
