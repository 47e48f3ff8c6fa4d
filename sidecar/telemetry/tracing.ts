// Manual OpenTelemetry spans: a SERVER span per inbound request, a CLIENT span per outbound attempt
// (retries are separate spans with http.request.resend_count), W3C traceparent/tracestate extracted
// and injected, stable HTTP semantic-convention attributes (set only on recording spans), policy
// decisions as span events. Export over OTLP/HTTP configured by the standard OTEL_* variables,
// parent-based ratio sampling, batch span processor. The SDK is loaded only when tracing is on
// (an OTLP endpoint is configured): with tracing off the request path pays one `undefined` check.
import { randomFillSync } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Context, Span, TextMapGetter, Tracer } from '@opentelemetry/api';
import { setHeader } from '../proxy/headers.ts';

type Api = typeof import('@opentelemetry/api');

const HEADER_GETTER: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

export interface SpanStart {
  /** The incoming request's headers, whose traceparent is the parent. */
  parentHeaders: IncomingHttpHeaders;
  method: string;
  path: string;
  /** host of the upstream (CLIENT) or of this sidecar (SERVER). */
  serverAddress: string;
  serverPort: number | undefined;
  /** Retries: 1 for the first resend. CLIENT spans only. */
  resendCount?: number;
  /** A gRPC call: RPC semantic-convention attributes (rpc.system, rpc.service, rpc.method). */
  grpc?: boolean;
  /** SERVER spans: the caller's SPIFFE identity when it came over mesh mTLS. */
  peerIdentity?: string | undefined;
  /** CLIENT spans: the route that took the request (an HTTPRoute rule's GEP-995 name, a policy route, "default"). */
  route?: string | undefined;
}

export interface Propagator {
  extract(ctx: Context, carrier: IncomingHttpHeaders, getter: TextMapGetter<IncomingHttpHeaders>): Context;
}

export class Tracing {
  readonly #api: Api;
  readonly #tracer: Tracer;
  readonly #shutdown: () => Promise<void>;
  readonly #propagator: Propagator;

  constructor(api: Api, tracer: Tracer, propagator: Propagator, shutdown: () => Promise<void>) {
    this.#api = api;
    this.#tracer = tracer;
    this.#propagator = propagator;
    this.#shutdown = shutdown;
  }

  #start(name: string, kind: 'server' | 'client', s: SpanStart): Span {
    const api = this.#api;
    const parent = this.#propagator.extract(api.ROOT_CONTEXT, s.parentHeaders, HEADER_GETTER);
    const span = this.#tracer.startSpan(name, { kind: kind === 'server' ? api.SpanKind.SERVER : api.SpanKind.CLIENT }, parent);
    if (span.isRecording()) {
      span.setAttribute('http.request.method', s.method);
      span.setAttribute('url.path', s.path.split('?')[0] as string);
      span.setAttribute('server.address', s.serverAddress);
      if (s.serverPort !== undefined) span.setAttribute('server.port', s.serverPort);
      if (kind === 'client') {
        span.setAttribute('url.full', `http://${s.serverAddress}${s.serverPort === undefined ? '' : `:${s.serverPort}`}${s.path}`);
        if (s.resendCount !== undefined && s.resendCount > 0) span.setAttribute('http.request.resend_count', s.resendCount);
        // Not http.route: that names a path template; this is the rule's name, the `route` metric label.
        if (s.route !== undefined) span.setAttribute('petrel.route', s.route);
      } else {
        span.setAttribute('url.scheme', 'http');
        // Who called, as its certificate says (never a header): tls.established per semconv.
        span.setAttribute('tls.established', s.peerIdentity !== undefined);
        if (s.peerIdentity !== undefined) span.setAttribute('petrel.peer.identity', s.peerIdentity);
      }
      if (s.grpc === true) setRpcAttributes(span, s.path);
    }
    return span;
  }

  serverSpan(s: SpanStart): Span {
    return this.#start(s.method, 'server', s);
  }

  clientSpan(s: SpanStart): Span {
    return this.#start(s.method, 'client', s);
  }

  /**
   * Writes the span's context as W3C traceparent (and tracestate) into upstream headers. Formatted
   * here rather than through the propagator: the format is fixed, and this runs on every request,
   * sampled or not, where building a Context per call showed in the bench.
   */
  inject(span: Span, headers: string[]): void {
    const c = span.spanContext();
    setHeader(headers, 'traceparent', `00-${c.traceId}-${c.spanId}-0${c.traceFlags & 1}`);
    const state = c.traceState?.serialize();
    if (state) setHeader(headers, 'tracestate', state);
  }

  /** Ends a span with the response status (5xx is an error) and the sidecar's flags. */
  end(span: Span, status: number | undefined, flags: string, errorType?: string, grpcStatus?: number): void {
    if (span.isRecording()) {
      if (status !== undefined) span.setAttribute('http.response.status_code', status);
      if (grpcStatus !== undefined) span.setAttribute('rpc.grpc.status_code', grpcStatus);
      if (flags !== '-') span.setAttribute('petrel.flags', flags);
      const error = errorType ?? (status !== undefined && status >= 500 ? String(status) : undefined);
      if (error !== undefined) {
        span.setAttribute('error.type', error);
        span.setStatus({ code: this.#api.SpanStatusCode.ERROR });
      }
    }
    span.end();
  }

  /** A request the policy chain answered without an attempt: a CLIENT span carrying the decision. */
  decision(s: SpanStart, event: string, flag: string, status: number): void {
    const span = this.clientSpan(s);
    if (span.isRecording()) span.addEvent(event);
    this.end(span, status, flag, flag);
  }

  shutdown(): Promise<void> {
    return this.#shutdown();
  }
}

/** rpc.system, rpc.service and rpc.method from a gRPC path "/package.Service/Method". */
function setRpcAttributes(span: Span, path: string): void {
  span.setAttribute('rpc.system', 'grpc');
  const slash = path.indexOf('/', 1);
  if (path.charCodeAt(0) !== 47 || slash < 0) return;
  span.setAttribute('rpc.service', path.slice(1, slash));
  span.setAttribute('rpc.method', path.slice(slash + 1).split('?')[0] as string);
}

/** Trace and span ids from a pool of crypto-random bytes, refilled 4 KiB at a time. */
class PooledIdGenerator {
  #pool = Buffer.alloc(4096);
  #offset = 4096;

  #hex(bytes: number): string {
    if (this.#offset + bytes > this.#pool.length) {
      randomFillSync(this.#pool);
      this.#offset = 0;
    }
    const id = this.#pool.toString('hex', this.#offset, this.#offset + bytes);
    this.#offset += bytes;
    return id;
  }

  generateTraceId(): string {
    return this.#hex(16);
  }

  generateSpanId(): string {
    return this.#hex(8);
  }
}

/** Tracing is on when an OTLP endpoint is configured and neither the SDK nor the exporter is disabled. */
export function tracingEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true' || env.OTEL_TRACES_EXPORTER === 'none') return false;
  return env.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT !== undefined;
}

export async function startTracing(serviceName: string, namespace: string, env: NodeJS.ProcessEnv = process.env): Promise<Tracing | undefined> {
  if (!tracingEnabled(env)) return undefined;
  const api = await import('@opentelemetry/api');
  const { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } = await import('@opentelemetry/sdk-trace-base');
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? `${serviceName}-sidecar`, 'service.namespace': namespace, 'petrel.service': serviceName }),
    // OTEL_TRACES_SAMPLER, when set, is the SDK's to read; otherwise parent-based ratio sampling.
    ...(env.OTEL_TRACES_SAMPLER === undefined
      ? { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(Number.isFinite(ratio) ? ratio : 1) }) } : {}),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
    idGenerator: new PooledIdGenerator(),
  });
  const propagator = new W3CTraceContextPropagator();
  return new Tracing(api, provider.getTracer('petrel-sidecar'), propagator as unknown as Propagator, () => provider.shutdown());
}
