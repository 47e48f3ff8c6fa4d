// `petrel tap`'s messages, as the three parties speak them:
//   CLI -> control      GET /v1/tap?service&namespace&explain&max&duration on the API port (the token, as
//                       /v1/status): an NDJSON response of lines {type: start|event|end}
//   control -> sidecar  a `tap` frame on each sidecar's config stream: start or renew a tap (its lease),
//                       or stop it (leaseMs 0). A sidecar stops by itself when the lease is not renewed.
//   sidecar -> control  POST /v1/tap {id, secret, events, dropped} on the stream port: the stream secret
//                       from the hello proves the upload comes from that subscription's sidecar
// An event carries the listed fields only: no bodies, no header values but method and authority,
// and the path without its query (query values can be secrets).
import { StreamMessageError } from './stream-messages.ts';
import type { ExplainEntry } from '../sidecar/telemetry/explain.ts';

/** A tap as the control plane asks sidecars to run it. */
export interface TapSpec {
  /** The tap session id (the control plane's). */
  id: string;
  service: string;
  namespace: string;
  /** Record an explanation for each sampled request. */
  explain: boolean;
  /** The sidecar stops tapping this long after the last renewal; 0: stop now. */
  leaseMs: number;
}

export interface TapFrame { type: 'tap'; tap: TapSpec }

export interface TapEvent {
  time: string;
  /** The tap sessions this event belongs to. */
  taps: string[];
  /** Which listener: inbound (to the sidecar's service) or outbound (from it). */
  direction: 'inbound' | 'outbound';
  /** The sidecar's own service and namespace: where the request was seen. */
  service: string;
  namespace: string;
  /** Outbound: the service called; inbound: the caller (its service account or x-petrel-peer), "" if unknown. */
  peer: string;
  method: string;
  authority: string;
  /** The path without its query. */
  path: string;
  route: string;
  status: number;
  grpc_status: string;
  flags: string;
  attempts: number;
  upstream: string;
  duration_ms: number;
  /** With --explain: the explanation in words, and its entries. */
  explanation?: string;
  explain?: ExplainEntry[];
}

export interface TapReport {
  /** The subscription id and stream secret from the hello. */
  id: string;
  secret: string;
  events: TapEvent[];
  /** Per tap session: requests it matched that the rate bound or the buffer dropped since the last report. */
  dropped: Record<string, number>;
}

/** Lines of the CLI's NDJSON response. */
export type TapLine =
  | { type: 'start'; id: string; service: string; namespace: string; sidecars: number; explain: boolean; max: number; durationMs: number }
  | { type: 'event'; event: TapEvent }
  | { type: 'end'; reason: 'max' | 'duration' | 'closed'; events: number; dropped: number };

/** Events per report: a report stays far under the stream server's 64 KiB body limit. */
export const MAX_TAP_EVENTS_PER_REPORT = 50;
const MAX_TEXT = 1024;

export function encodeTapFrame(tap: TapSpec): string {
  return `${JSON.stringify({ type: 'tap', tap } satisfies TapFrame)}\n`;
}

export function decodeTapSpec(v: unknown): TapSpec {
  const t = v as Partial<TapSpec> | null;
  if (typeof t !== 'object' || t === null) throw new StreamMessageError('tap: tap must be an object');
  if (typeof t.id !== 'string' || t.id === '' || t.id.length > 64) throw new StreamMessageError('tap: id must be a non-empty string');
  if (typeof t.service !== 'string' || typeof t.namespace !== 'string') throw new StreamMessageError('tap: service and namespace must be strings');
  if (typeof t.explain !== 'boolean') throw new StreamMessageError('tap: explain must be a boolean');
  if (typeof t.leaseMs !== 'number' || !(t.leaseMs >= 0) || t.leaseMs > 60_000) throw new StreamMessageError('tap: leaseMs must be between 0 and 60000');
  return { id: t.id, service: t.service, namespace: t.namespace, explain: t.explain, leaseMs: t.leaseMs };
}

export function encodeTapReport(r: TapReport): string {
  return JSON.stringify(r);
}

const str = (v: unknown): string => (typeof v === 'string' ? v.slice(0, MAX_TEXT) : '');
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export function decodeTapReport(body: string): TapReport {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(body) as Record<string, unknown>;
  } catch (err) {
    throw new StreamMessageError(`tap report: not JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new StreamMessageError('tap report: must be a JSON object');
  if (typeof v.id !== 'string' || v.id === '') throw new StreamMessageError('tap report: id must be the subscription id from the hello');
  if (typeof v.secret !== 'string' || v.secret === '') throw new StreamMessageError('tap report: secret must be the stream secret from the hello');
  if (!Array.isArray(v.events) || v.events.length > MAX_TAP_EVENTS_PER_REPORT) throw new StreamMessageError(`tap report: events must be an array of at most ${MAX_TAP_EVENTS_PER_REPORT}`);
  const dropped: Record<string, number> = {};
  if (typeof v.dropped === 'object' && v.dropped !== null) {
    for (const [k, n] of Object.entries(v.dropped as Record<string, unknown>).slice(0, 64)) dropped[k] = Math.max(0, Math.floor(num(n)));
  }
  const events = v.events.map((e: unknown): TapEvent => {
    if (typeof e !== 'object' || e === null) throw new StreamMessageError('tap report: each event must be an object');
    const x = e as Record<string, unknown>;
    if (!Array.isArray(x.taps) || !x.taps.every((t) => typeof t === 'string')) throw new StreamMessageError('tap report: event.taps must be an array of tap ids');
    if (x.direction !== 'inbound' && x.direction !== 'outbound') throw new StreamMessageError('tap report: event.direction must be inbound or outbound');
    const event: TapEvent = {
      time: str(x.time), taps: (x.taps as string[]).slice(0, 64), direction: x.direction, service: str(x.service), namespace: str(x.namespace),
      peer: str(x.peer), method: str(x.method), authority: str(x.authority), path: str(x.path), route: str(x.route),
      status: num(x.status), grpc_status: str(x.grpc_status), flags: str(x.flags), attempts: num(x.attempts), upstream: str(x.upstream), duration_ms: num(x.duration_ms),
    };
    if (typeof x.explanation === 'string') event.explanation = x.explanation.slice(0, 4 * MAX_TEXT);
    if (Array.isArray(x.explain)) event.explain = x.explain.slice(0, 32) as ExplainEntry[];
    return event;
  });
  return { id: v.id, secret: v.secret, events, dropped };
}

/** The path an event shows: no query string. */
export function pathWithoutQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}
