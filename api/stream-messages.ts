// The config stream's messages, as both ends speak them. One module encodes and decodes every
// message so that the control plane (control/stream-server.ts) and the sidecar
// (sidecar/config/control-client.ts) cannot drift apart:
//   subscribe   GET /v1/subscribe?service&namespace&address&name[&serviceAccount][&version&hash][&register=0]
//   frames      the subscription's NDJSON response: hello (first), snapshot, ping
//   ack         POST /v1/ack         {id, secret, version, status: ACK|NACK, error?, identity?, certNotAfter?}
//   deregister  POST /v1/deregister  {id, secret}  ->  {deregistered: address | null}
//   stats       POST /v1/stats       {id, secret, windowSeconds, series}  (api/stat-summary.ts)
//   tap         a `tap` frame starts, renews or stops a tap; POST /v1/tap {id, secret, events, dropped} (api/tap-messages.ts)
// `secret` is the per-stream secret the hello carries: only the holder of the stream may answer
// for it, so the shared token alone cannot forge another sidecar's ACK/NACK or deregister it.
import { isIdentityName, parseSpiffe } from '../sidecar/identity/spiffe.ts';
import { decodeTapSpec, type TapFrame } from './tap-messages.ts';

export const SNAPSHOT_API_VERSION = 'petrel.dev/v1alpha1';
/** How every compiled snapshot's JSON starts; the version is spliced in right after it. */
export const SNAPSHOT_JSON_HEAD = `{"apiVersion":"${SNAPSHOT_API_VERSION}","kind":"SidecarSnapshot",`;

export const STREAM_PATHS = { subscribe: '/v1/subscribe', ack: '/v1/ack', deregister: '/v1/deregister', stats: '/v1/stats', tap: '/v1/tap' } as const;

/** A stream message that does not decode. `code` is stable; the message says what is wrong. */
export class StreamMessageError extends Error {
  readonly code = 'PETREL_BAD_STREAM_MESSAGE';
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_TEXT = 4096;

export interface SubscribeRequest {
  service: string;
  namespace: string;
  /** The inbound address this sidecar serves on ('' for none). */
  address: string;
  name: string;
  /**
   * The service account the sidecar runs as (default: the service name). It names the sidecar's
   * identity only with a local credential; a ServiceAccount token names its own.
   */
  serviceAccount?: string | undefined;
  /** What the sidecar already holds, so a current one gets nothing new. */
  held?: { version: number; hash: string } | undefined;
  /** false after the sidecar deregistered: subscribe for config, but advertise no endpoint. */
  register: boolean;
  /** The Service port its endpoint serves (`--service-port`); absent: 80. */
  servicePort?: number | undefined;
}

export function encodeSubscribe(r: SubscribeRequest): URLSearchParams {
  const q = new URLSearchParams({ service: r.service, namespace: r.namespace, address: r.address, name: r.name });
  if (r.serviceAccount !== undefined) q.set('serviceAccount', r.serviceAccount);
  if (r.held !== undefined) {
    q.set('version', String(r.held.version));
    q.set('hash', r.held.hash);
  }
  if (!r.register) q.set('register', '0');
  // Only when not the default, so that a sidecar on port 80 sends what it always sent.
  if (r.servicePort !== undefined && r.servicePort !== 80) q.set('servicePort', String(r.servicePort));
  return q;
}

export function decodeSubscribe(q: URLSearchParams): SubscribeRequest {
  const service = q.get('service') ?? '';
  const namespace = q.get('namespace') ?? 'default';
  if (!DNS_LABEL.test(service) || !DNS_LABEL.test(namespace)) {
    throw new StreamMessageError(`subscribe: service and namespace must be DNS labels, got service=${JSON.stringify(service.slice(0, 64))} namespace=${JSON.stringify(namespace.slice(0, 64))}`);
  }
  const serviceAccount = q.get('serviceAccount') ?? service;
  if (!isIdentityName(serviceAccount)) throw new StreamMessageError(`subscribe: serviceAccount must be a Kubernetes name (lower case, DNS subdomain), got ${JSON.stringify(serviceAccount.slice(0, 64))}`);
  const address = q.get('address') ?? '';
  if (address.length > 255) throw new StreamMessageError('subscribe: address is longer than 255 characters');
  const name = (q.get('name') ?? address).slice(0, 253);
  const version = Number(q.get('version'));
  const hash = q.get('hash');
  const held = Number.isSafeInteger(version) && version > 0 && hash !== null && /^[0-9a-f]{1,64}$/.test(hash) ? { version, hash } : undefined;
  const portText = q.get('servicePort');
  if (portText !== null && (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535)) {
    throw new StreamMessageError(`subscribe: servicePort must be a port number (1-65535), got ${JSON.stringify(portText.slice(0, 16))}`);
  }
  const servicePort = portText === null ? undefined : Number(portText);
  return { service, namespace, address, name, serviceAccount, held, register: q.get('register') !== '0', ...(servicePort === undefined ? {} : { servicePort }) };
}

export interface HelloFrame { type: 'hello'; id: string; heartbeatMs: number; secret?: string | undefined }
export interface SnapshotFrame { type: 'snapshot'; snapshot: unknown }
export interface PingFrame { type: 'ping' }
export type StreamFrame = HelloFrame | SnapshotFrame | PingFrame | TapFrame;

/** One NDJSON line (newline included). A snapshot frame from a compiled JSON: see encodeSnapshotFrame. */
export function encodeFrame(frame: HelloFrame | PingFrame): string {
  return `${JSON.stringify(frame)}\n`;
}

/**
 * A snapshot frame from a compiled snapshot's JSON without its version (control/compiler.ts builds it
 * once per push round). The version is spliced in right after apiVersion and kind, so the decoded
 * snapshot minus its version serializes back to exactly `contentJson`: the content hash both ends
 * compute (api/snapshot-hash.ts) stays the same.
 */
export function encodeSnapshotFrame(version: number, contentJson: string): string {
  if (!contentJson.startsWith(SNAPSHOT_JSON_HEAD)) throw new StreamMessageError('snapshot: compiled JSON must start with apiVersion and kind');
  if (!Number.isSafeInteger(version) || version <= 0) throw new StreamMessageError(`snapshot: version must be a positive integer, got ${version}`);
  return `{"type":"snapshot","snapshot":${SNAPSHOT_JSON_HEAD}"version":${version},${contentJson.slice(SNAPSHOT_JSON_HEAD.length)}}\n`;
}

export function decodeFrame(line: string): StreamFrame {
  const value = parseObject(line, 'stream frame');
  switch (value.type) {
    case 'hello': {
      const { id, heartbeatMs, secret } = value;
      if (typeof id !== 'string' || id === '') throw new StreamMessageError('hello: id must be a non-empty string');
      if (typeof heartbeatMs !== 'number' || !(heartbeatMs > 0)) throw new StreamMessageError('hello: heartbeatMs must be a positive number');
      if (secret !== undefined && typeof secret !== 'string') throw new StreamMessageError('hello: secret must be a string');
      return { type: 'hello', id, heartbeatMs, secret };
    }
    case 'snapshot': {
      const snapshot = value.snapshot;
      if (typeof snapshot !== 'object' || snapshot === null || Array.isArray(snapshot)) throw new StreamMessageError('snapshot: the snapshot must be an object');
      return { type: 'snapshot', snapshot };
    }
    case 'ping':
      return { type: 'ping' };
    case 'tap':
      return { type: 'tap', tap: decodeTapSpec(value.tap) };
    default:
      throw new StreamMessageError(`stream frame: unknown type ${JSON.stringify(value.type)}; expected hello, snapshot, ping or tap`);
  }
}

export interface AckMessage {
  id: string;
  /** The stream secret from the hello; absent only when talking to a control plane that sent none. */
  secret?: string | undefined;
  version: number;
  status: 'ACK' | 'NACK';
  error?: string | undefined;
  /** The SPIFFE identity of the certificate the sidecar holds, for `petrel status`. */
  identity?: string | undefined;
  /** That certificate's notAfter (ISO 8601). */
  certNotAfter?: string | undefined;
}

export function encodeAck(m: AckMessage): string {
  return JSON.stringify({ id: m.id, ...(m.secret === undefined ? {} : { secret: m.secret }), version: m.version, status: m.status, ...(m.error === undefined ? {} : { error: m.error }),
    ...(m.identity === undefined ? {} : { identity: m.identity }), ...(m.certNotAfter === undefined ? {} : { certNotAfter: m.certNotAfter }) });
}

export function decodeAck(body: string): AckMessage {
  const v = parseObject(body, 'ack');
  if (typeof v.id !== 'string' || v.id === '') throw new StreamMessageError('ack: id must be the subscription id from the hello');
  if (v.secret !== undefined && typeof v.secret !== 'string') throw new StreamMessageError('ack: secret must be a string');
  if (typeof v.version !== 'number' || !Number.isSafeInteger(v.version)) throw new StreamMessageError('ack: version must be an integer');
  if (v.status !== 'ACK' && v.status !== 'NACK') throw new StreamMessageError(`ack: status must be "ACK" or "NACK", got ${JSON.stringify(v.status)}`);
  if (v.error !== undefined && typeof v.error !== 'string') throw new StreamMessageError('ack: error must be a string');
  if (v.identity !== undefined && (typeof v.identity !== 'string' || parseSpiffe(v.identity) === undefined)) throw new StreamMessageError('ack: identity must be a SPIFFE URI spiffe://<trust domain>/ns/<namespace>/sa/<service account>');
  if (v.certNotAfter !== undefined && (typeof v.certNotAfter !== 'string' || Number.isNaN(Date.parse(v.certNotAfter)))) throw new StreamMessageError('ack: certNotAfter must be an ISO 8601 time');
  return {
    id: v.id, secret: v.secret, version: v.version, status: v.status, error: typeof v.error === 'string' ? v.error.slice(0, MAX_TEXT) : undefined,
    ...(v.identity === undefined ? {} : { identity: v.identity as string }),
    ...(v.certNotAfter === undefined ? {} : { certNotAfter: new Date(v.certNotAfter as string).toISOString() }),
  };
}

export interface DeregisterMessage { id: string; secret: string }
export interface DeregisterReply { deregistered: string | null }

export function encodeDeregister(m: DeregisterMessage): string {
  return JSON.stringify({ id: m.id, secret: m.secret });
}

export function decodeDeregister(body: string): DeregisterMessage {
  const v = parseObject(body, 'deregister');
  if (typeof v.id !== 'string' || v.id === '') throw new StreamMessageError('deregister: id must be the subscription id from the hello');
  if (typeof v.secret !== 'string' || v.secret === '') throw new StreamMessageError('deregister: secret must be the stream secret from the hello');
  return { id: v.id, secret: v.secret };
}

export function decodeDeregisterReply(body: string): DeregisterReply {
  const v = parseObject(body, 'deregister reply');
  if (v.deregistered !== null && typeof v.deregistered !== 'string') throw new StreamMessageError('deregister reply: deregistered must be an address or null');
  return { deregistered: v.deregistered };
}

function parseObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new StreamMessageError(`${what}: not JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new StreamMessageError(`${what}: must be a JSON object`);
  return value as Record<string, unknown>;
}
