// Manual OpenTelemetry spans: a SERVER span per inbound request, a CLIENT span per outbound attempt
// (retries are separate spans with http.request.resend_count), W3C traceparent/tracestate extracted
// and injected, stable HTTP semantic-convention attributes (set only on recording spans), policy
// decisions as span events. Export over OTLP/HTTP configured by the standard OTEL_* variables,
// parent-based ratio sampling, batch span processor. The SDK is loaded only when tracing is on
// (an OTLP endpoint is configured): with tracing off the request path pays one `undefined` check.
import type { IncomingHttpHeaders } from 'node:http';
import type { Context, Span, TextMapGetter, TextMapSetter, Tracer } from '@opentelemetry/api';

type Api = typeof import('@opentelemetry/api');

const HEADER_GETTER: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/** Sets a header in a flat [name, value, ...] array, replacing one of the same name. */
const FLAT_SETTER: TextMapSetter<string[]> = {
  set(carrier, key, value) {
    for (let i = 0; i < carrier.length; i += 2) {
      if ((carrier[i] as string).toLowerCase() === key) {
        carrier[i + 1] = value;
        return;
      }
    }
    carrier.push(key, value);
  },
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
}

export interface Propagator {
  inject(ctx: Context, carrier: string[], setter: TextMapSetter<string[]>): void;
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
      } else span.setAttribute('url.scheme', 'http');
    }
    return span;
  }

  serverSpan(s: SpanStart): Span {
    return this.#start(s.method, 'server', s);
  }

  clientSpan(s: SpanStart): Span {
    return this.#start(s.method, 'client', s);
  }

  /** Writes the span's context as traceparent/tracestate into upstream headers. */
  inject(span: Span, headers: string[]): void {
    this.#propagator.inject(this.#api.trace.setSpan(this.#api.ROOT_CONTEXT, span), headers, FLAT_SETTER);
  }

  /** Ends a span with the response status (5xx is an error) and the sidecar's flags. */
  end(span: Span, status: number | undefined, flags: string, errorType?: string): void {
    if (span.isRecording()) {
      if (status !== undefined) span.setAttribute('http.response.status_code', status);
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
  const { CompositePropagator, W3CTraceContextPropagator, W3CBaggagePropagator } = await import('@opentelemetry/core');
  const ratio = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME ?? `${serviceName}-sidecar`, 'service.namespace': namespace, 'petrel.service': serviceName }),
    // OTEL_TRACES_SAMPLER, when set, is the SDK's to read; otherwise parent-based ratio sampling.
    ...(env.OTEL_TRACES_SAMPLER === undefined
      ? { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(Number.isFinite(ratio) ? ratio : 1) }) } : {}),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });
  return new Tracing(api, provider.getTracer('petrel-sidecar'), propagator as unknown as Propagator, () => provider.shutdown());
}
