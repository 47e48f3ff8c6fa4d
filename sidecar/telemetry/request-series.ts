// The two per-request metrics, kept as plain numbers on the hot path and handed to prom-client's
// Registry only when scraped. prom-client's own label children re-hash their labels and allocate on
// every observe(); at one call per request that garbage cost the sidecar ~5 ms of p99 at one
// connection in GC pauses (measured). The Registry accepts any object with get() (its collector
// interface), so exposition, content negotiation and formatting stay prom-client's.
import type { Registry } from 'prom-client';
import { GRPC_FAILURE_STATUSES } from '../proxy/grpc.ts';
import type { StatWindow } from './stat-window.ts';

/** What prom-client's Registry reads from a collector: the same shape its own metrics return from get(). */
interface Collected {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: { metricName?: string; labels: Record<string, string | number>; value: number }[];
}
type Collector = Omit<Collected, 'values'> & { get(): Promise<Collected> };
const register = (registry: Registry, collector: Collector): void =>
  registry.registerMetric(collector as unknown as Parameters<Registry['registerMetric']>[0]);

/** Mesh latencies: 1 ms to 30 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** `tls`: "true" when the call crossed mesh mTLS (inbound: the caller's; outbound: to the endpoints), as Linkerd labels it. */
export type StreamLabel = 'direction' | 'service' | 'peer_service' | 'route' | 'tls';

/** Which listener a request came through. */
export type Direction = 'inbound' | 'outbound';
type RequestLabel = StreamLabel | 'method' | 'code' | 'flags' | 'grpc_status';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT']);
/** grpc_status labels that count as failures in `petrel stat`: the breaker's failures, as label text. */
const GRPC_FAILURES = new Set(GRPC_FAILURE_STATUSES.map(String));

interface Outcome {
  labels: Record<RequestLabel, string>;
  value: number;
}

/** What the request path records into: one per (direction, service, peer_service, route). */
export type StreamMetrics = RequestSeries;

/** One (direction, service, peer_service, route): its outcome counters and latency histogram. */
export class RequestSeries {
  readonly labels: Record<StreamLabel, string>;
  /** method -> status -> flags -> grpc_status -> counter */
  readonly outcomes = new Map<string, Map<number, Map<string, Map<string, Outcome>>>>();
  /** Per-bucket (not cumulative) counts; the last slot is +Inf. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  /** The `petrel stat` window this series also counts into (stat-window.ts); set once at creation. */
  stat: StatWindow | undefined;

  constructor(labels: Record<StreamLabel, string>) {
    this.labels = labels;
  }

  /** @param grpcStatus the bounded grpc_status label: "" for plain HTTP (grpc.ts grpcStatusLabel). */
  record(method: string, code: number, flags: string, seconds: number, grpcStatus = ''): void {
    let byCode = this.outcomes.get(method);
    if (byCode === undefined) {
      const m = KNOWN_METHODS.has(method) ? method : 'OTHER';
      byCode = m === method ? new Map() : this.#otherMethod();
      this.outcomes.set(method, byCode);
    }
    let byFlags = byCode.get(code);
    if (byFlags === undefined) byCode.set(code, (byFlags = new Map()));
    let byGrpc = byFlags.get(flags);
    if (byGrpc === undefined) byFlags.set(flags, (byGrpc = new Map()));
    let outcome = byGrpc.get(grpcStatus);
    if (outcome === undefined) {
      const m = KNOWN_METHODS.has(method) ? method : 'OTHER';
      outcome = { labels: { ...this.labels, method: m, code: String(code), flags, grpc_status: grpcStatus }, value: 0 };
      byGrpc.set(grpcStatus, outcome);
    }
    outcome.value++;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > (LATENCY_BUCKETS[i] as number)) i++;
    this.buckets[i] = (this.buckets[i] as number) + 1;
    this.sum += seconds;
    this.count++;
    this.stat?.record(code >= 500 || (grpcStatus !== '' && GRPC_FAILURES.has(grpcStatus)), i);
  }

  /** Unknown methods share one label value, and one map, so they cannot grow the series. */
  #otherMethod(): Map<number, Map<string, Map<string, Outcome>>> {
    let other = this.outcomes.get('OTHER');
    if (other === undefined) this.outcomes.set('OTHER', (other = new Map()));
    return other;
  }
}

/** Registers petrel_requests_total and petrel_request_duration_seconds on a Registry. */
export class RequestMetrics {
  readonly #series = new Map<string, RequestSeries>();
  /** Resolves the `petrel stat` window of a new series; undefined: none. */
  readonly #stat: ((labels: Record<StreamLabel, string>) => StatWindow | undefined) | undefined;

  constructor(registry: Registry, stat?: (labels: Record<StreamLabel, string>) => StatWindow | undefined) {
    this.#stat = stat;
    const series = this.#series;
    const requests = { name: 'petrel_requests_total', help: 'Requests handled by the sidecar, by outcome.', type: 'counter', aggregator: 'sum' } as const;
    register(registry, {
      ...requests,
      async get() {
        const values: Collected['values'] = [];
        const seen = new Set<Map<number, Map<string, Map<string, Outcome>>>>();
        for (const s of series.values()) {
          for (const byCode of s.outcomes.values()) {
            if (seen.has(byCode)) continue;
            seen.add(byCode);
            for (const byFlags of byCode.values()) {
              for (const byGrpc of byFlags.values()) for (const o of byGrpc.values()) values.push({ labels: o.labels, value: o.value });
            }
          }
        }
        return { ...requests, values };
      },
    });
    const duration = { name: 'petrel_request_duration_seconds', help: 'Request duration as the client saw it, retries included.', type: 'histogram', aggregator: 'sum' } as const;
    register(registry, {
      ...duration,
      async get() {
        const values: Collected['values'] = [];
        for (const s of series.values()) {
          let cumulative = 0;
          LATENCY_BUCKETS.forEach((le, i) => {
            cumulative += s.buckets[i] as number;
            values.push({ metricName: 'petrel_request_duration_seconds_bucket', labels: { ...s.labels, le }, value: cumulative });
          });
          cumulative += s.buckets[LATENCY_BUCKETS.length] as number;
          values.push({ metricName: 'petrel_request_duration_seconds_bucket', labels: { ...s.labels, le: '+Inf' }, value: cumulative });
          values.push({ metricName: 'petrel_request_duration_seconds_sum', labels: s.labels, value: s.sum });
          values.push({ metricName: 'petrel_request_duration_seconds_count', labels: s.labels, value: s.count });
        }
        return { ...duration, values };
      },
    });
  }

  /** The series for one stream family, created once and kept (labels are bounded). */
  series(labels: Record<StreamLabel, string>): RequestSeries {
    const key = `${labels.direction}\0${labels.service}\0${labels.peer_service}\0${labels.route}\0${labels.tls}`;
    let s = this.#series.get(key);
    if (s === undefined) {
      this.#series.set(key, (s = new RequestSeries(labels)));
      s.stat = this.#stat?.(labels);
    }
    return s;
  }
}
