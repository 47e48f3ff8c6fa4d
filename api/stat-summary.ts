// `petrel stat`'s data, as the three parties speak it:
//   sidecar -> control   POST /v1/stats {id, secret, windowSeconds, series: [...]} every few seconds:
//                        its last 30 s per (direction, service, route) (sidecar/telemetry/stat-window.ts)
//   control -> CLI       GET /v1/stat: every sidecar's latest summary merged (control/stat-store.ts)
// A summary also carries the endpoints of the services the sidecar calls, as it sees them (breaker
// state, latency EWMA, in flight), for `petrel describe` (control/describe.ts merges them per endpoint).
// Counters add up across sidecars and so do histogram buckets (every sidecar uses the same fixed
// LATENCY_BUCKETS), so quantiles come from the merged buckets, never from averaging percentiles.
// Everything is bounded: MAX_STAT_SERIES per summary, names as long as a DNS name, and the body
// under the stream server's 64 KiB.
import { LATENCY_BUCKETS } from '../sidecar/telemetry/request-series.ts';
import { StreamMessageError } from './stream-messages.ts';

/** The window `petrel stat` reports over. */
export const STAT_WINDOW_SECONDS = 30;
/** Series per sidecar summary: the rest of a sidecar's traffic is counted under service "other". */
export const MAX_STAT_SERIES = 128;
/** Slots per histogram: one per LATENCY_BUCKETS bound, then +Inf. */
export const STAT_BUCKETS = LATENCY_BUCKETS.length + 1;
const MAX_NAME = 253;

export type StatDirection = 'inbound' | 'outbound';

/**
 * One (direction, service, route) over the window. `service` is the service called: the sidecar's
 * own for inbound, the destination for outbound (retries happen there).
 */
export interface StatSeries {
  direction: StatDirection;
  service: string;
  route: string;
  requests: number;
  /** 5xx, and gRPC statuses that mean the server failed (UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS). */
  failures: number;
  retries: number;
  /** Per-bucket (not cumulative) request counts, STAT_BUCKETS of them. */
  buckets: number[];
}

export interface StatSummary {
  /** How much time the counts cover: 30 s, less while the sidecar is younger than that. */
  windowSeconds: number;
  series: StatSeries[];
  /** The endpoints of the services this sidecar calls, as it sees them now; absent from older sidecars. */
  endpoints?: EndpointView[];
}

/** A breaker's state as a caller sees it; 'none' when the service has no circuit breaker configured. */
export type CircuitView = 'closed' | 'open' | 'half-open' | 'none';
export const CIRCUIT_VIEWS: readonly CircuitView[] = ['closed', 'open', 'half-open', 'none'];

/** One endpoint of a called service, as one caller's sidecar sees it. */
export interface EndpointView {
  /** The service called, "name.namespace". */
  service: string;
  address: string;
  name: string;
  circuit: CircuitView;
  /** The peak-EWMA latency score the balancer uses, ms. */
  ewmaMs: number;
  inflight: number;
}

/** Endpoints per called service in a summary; a service with more reports its first ones by address. */
export const MAX_ENDPOINTS_PER_SERVICE = 64;
/** Endpoints in one summary, all services together. */
export const MAX_ENDPOINT_VIEWS = 256;

export interface StatReport extends StatSummary {
  id: string;
  secret: string;
}

/** The stream server reads at most 64 KiB of a message; a summary stays under this. */
export const MAX_STAT_REPORT_BYTES = 60_000;

/**
 * JSON of a report; if long names make it too big, endpoints with a closed breaker and nothing in
 * flight are left out first (then any endpoint), then the least busy series.
 */
export function encodeStatReport(r: StatReport): string {
  let text = JSON.stringify(r);
  if (text.length <= MAX_STAT_REPORT_BYTES) return text;
  if (r.endpoints !== undefined && r.endpoints.length > 0) {
    const quiet = (e: EndpointView) => (e.circuit === 'closed' || e.circuit === 'none') && e.inflight === 0;
    const endpoints = [...r.endpoints].sort((a, b) => Number(quiet(a)) - Number(quiet(b)));
    while (endpoints.length > 0 && text.length > MAX_STAT_REPORT_BYTES) {
      endpoints.length = Math.floor(endpoints.length * 0.8);
      text = JSON.stringify({ ...r, endpoints });
    }
    if (text.length <= MAX_STAT_REPORT_BYTES) return text;
    r = { ...r, endpoints: [] };
  }
  const series = [...r.series].sort((a, b) => b.requests - a.requests);
  while (series.length > 0 && text.length > MAX_STAT_REPORT_BYTES) {
    series.length = Math.floor(series.length * 0.8);
    text = JSON.stringify({ ...r, series });
  }
  return text;
}

export function decodeStatReport(body: string): StatReport {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (err) {
    throw new StreamMessageError(`stats: not JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new StreamMessageError('stats: must be a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.id !== 'string' || o.id === '') throw new StreamMessageError('stats: id must be the subscription id from the hello');
  if (typeof o.secret !== 'string' || o.secret === '') throw new StreamMessageError('stats: secret must be the stream secret from the hello');
  if (!isCount(o.windowSeconds) || o.windowSeconds <= 0 || o.windowSeconds > STAT_WINDOW_SECONDS) throw new StreamMessageError(`stats: windowSeconds must be in (0, ${STAT_WINDOW_SECONDS}]`);
  if (!Array.isArray(o.series) || o.series.length > MAX_STAT_SERIES) throw new StreamMessageError(`stats: series must be an array of at most ${MAX_STAT_SERIES}`);
  const report: StatReport = { id: o.id, secret: o.secret, windowSeconds: o.windowSeconds, series: o.series.map((s: unknown, i: number) => decodeSeries(s, `stats: series[${i}]`)) };
  if (o.endpoints !== undefined) {
    if (!Array.isArray(o.endpoints) || o.endpoints.length > MAX_ENDPOINT_VIEWS) throw new StreamMessageError(`stats: endpoints must be an array of at most ${MAX_ENDPOINT_VIEWS}`);
    report.endpoints = o.endpoints.map((e: unknown, i: number) => decodeEndpoint(e, `stats: endpoints[${i}]`));
  }
  return report;
}

function decodeEndpoint(v: unknown, at: string): EndpointView {
  if (typeof v !== 'object' || v === null) throw new StreamMessageError(`${at}: must be an object`);
  const e = v as Record<string, unknown>;
  for (const k of ['service', 'address', 'name'] as const) {
    const text = e[k];
    if (typeof text !== 'string' || text === '' || text.length > MAX_NAME) throw new StreamMessageError(`${at}.${k}: must be a non-empty string of at most ${MAX_NAME} characters`);
  }
  if (!CIRCUIT_VIEWS.includes(e.circuit as CircuitView)) throw new StreamMessageError(`${at}.circuit: must be one of ${CIRCUIT_VIEWS.join(', ')}`);
  for (const k of ['ewmaMs', 'inflight'] as const) if (!isCount(e[k])) throw new StreamMessageError(`${at}.${k}: must be a non-negative number`);
  return { service: e.service as string, address: e.address as string, name: e.name as string, circuit: e.circuit as CircuitView, ewmaMs: e.ewmaMs as number, inflight: e.inflight as number };
}

function decodeSeries(v: unknown, at: string): StatSeries {
  if (typeof v !== 'object' || v === null) throw new StreamMessageError(`${at}: must be an object`);
  const s = v as Record<string, unknown>;
  if (s.direction !== 'inbound' && s.direction !== 'outbound') throw new StreamMessageError(`${at}.direction: must be inbound or outbound`);
  for (const k of ['service', 'route'] as const) {
    const text = s[k];
    if (typeof text !== 'string' || text.length > MAX_NAME) throw new StreamMessageError(`${at}.${k}: must be a string of at most ${MAX_NAME} characters`);
  }
  for (const k of ['requests', 'failures', 'retries'] as const) if (!isCount(s[k])) throw new StreamMessageError(`${at}.${k}: must be a non-negative number`);
  const buckets = s.buckets;
  if (!Array.isArray(buckets) || buckets.length !== STAT_BUCKETS || !buckets.every(isCount)) throw new StreamMessageError(`${at}.buckets: must be ${STAT_BUCKETS} non-negative numbers`);
  return {
    direction: s.direction, service: s.service as string, route: s.route as string,
    requests: s.requests as number, failures: s.failures as number, retries: s.retries as number, buckets: buckets as number[],
  };
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/** One row of `petrel stat`: a service, or one of its routes. Rates per second; latencies in ms. */
export interface StatRow {
  requestsPerSecond: number;
  /** 0..1; null with no requests in the window. */
  successRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  retriesPerSecond: number;
}

export interface ServiceStat extends StatRow {
  service: string;
  /** From the service's own sidecars (they know it); '' when only callers reported it. */
  namespace: string;
  /** Where the service row's numbers come from: inbound (the service's own sidecars) when any, else its callers'. */
  source: StatDirection;
  routes: (StatRow & { route: string })[];
}

export interface StatBody {
  windowSeconds: number;
  /** Sidecars whose summary is in the numbers. */
  sidecars: number;
  services: ServiceStat[];
}

/** Counts summed over sidecars; rates are summed per sidecar (each over its own window). */
export class StatAccumulator {
  requestsPerSecond = 0;
  retriesPerSecond = 0;
  requests = 0;
  failures = 0;
  readonly buckets = new Array<number>(STAT_BUCKETS).fill(0);

  add(s: StatSeries, windowSeconds: number): void {
    this.requests += s.requests;
    this.failures += s.failures;
    this.requestsPerSecond += s.requests / windowSeconds;
    this.retriesPerSecond += s.retries / windowSeconds;
    for (let i = 0; i < STAT_BUCKETS; i++) this.buckets[i] = (this.buckets[i] as number) + (s.buckets[i] ?? 0);
  }

  /** Retries only: the caller's retries toward a service count in the service's row. */
  addRetries(s: StatSeries, windowSeconds: number): void {
    this.retriesPerSecond += s.retries / windowSeconds;
  }

  row(): StatRow {
    const q = (p: number) => histogramQuantileMs(this.buckets, p);
    return {
      requestsPerSecond: round(this.requestsPerSecond, 2), retriesPerSecond: round(this.retriesPerSecond, 2),
      successRate: this.requests === 0 ? null : round(1 - this.failures / this.requests, 4),
      p50Ms: q(0.5), p95Ms: q(0.95), p99Ms: q(0.99),
    };
  }
}

/**
 * The q-quantile in ms from per-bucket counts, interpolated linearly inside its bucket as
 * Prometheus' histogram_quantile does; the +Inf bucket answers with the highest finite bound.
 */
export function histogramQuantileMs(buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    const n = buckets[i] as number;
    if (seen + n >= rank && n > 0) {
      if (i >= LATENCY_BUCKETS.length) return (LATENCY_BUCKETS[LATENCY_BUCKETS.length - 1] as number) * 1000;
      const lower = i === 0 ? 0 : (LATENCY_BUCKETS[i - 1] as number);
      const upper = LATENCY_BUCKETS[i] as number;
      return round((lower + (upper - lower) * ((rank - seen) / n)) * 1000, 3);
    }
    seen += n;
  }
  return null;
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
