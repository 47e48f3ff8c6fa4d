// Header hygiene for a forwarding proxy (RFC 9110 §7.6.1): hop-by-hop headers and the headers a
// Connection header names are dropped in both directions; x-forwarded-* and x-request-id are added
// on the way up. Works on Node's flat rawHeaders array so that no header object is built twice.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'transfer-encoding', 'upgrade', 'http2-settings', 'expect',
]);

/** Headers that only mean something between two Petrel sidecars; never passed to an app. */
export const PEER_HEADER = 'x-petrel-peer';
/** Milliseconds the caller will still wait: the remaining total timeout, carried to the next hop. */
export const DEADLINE_HEADER = 'x-petrel-deadline-ms';
/**
 * How many outbound sidecars a request has passed. An outbound listener that sees a request come
 * back MAX_HOPS times refuses it: whatever spelling or name led a request back into a sidecar, the
 * loop ends after a bounded number of turns instead of exhausting memory.
 */
export const HOPS_HEADER = 'x-petrel-hops';
export const MAX_HOPS = 8;
/** The largest caller deadline taken from x-petrel-deadline-ms: 24 h, well inside a Node timer's range. */
export const MAX_DEADLINE_MS = 86_400_000;

/** The header names a response's or request's Connection headers list, or undefined for none. */
export function hopByHopListed(raw: readonly string[]): Set<string> | undefined {
  let listed: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).length === 10 && (raw[i] as string).toLowerCase() === 'connection') {
      const tokens = connectionTokens(raw[i + 1] as string);
      if (tokens.size > 0) listed = listed ? new Set([...listed, ...tokens]) : tokens;
    }
  }
  return listed;
}

export interface UpstreamHeaders {
  /** Flat [name, value, name, value, ...] for undici. */
  headers: string[];
  requestId: string;
  /** The x-petrel-peer value a calling sidecar sent, if any. */
  peer: string | undefined;
  /** True when the request carries a body (chunked, or a non-zero Content-Length). */
  hasBody: boolean;
  /** The caller's remaining time budget (x-petrel-deadline-ms), if it sent a whole number; capped at MAX_DEADLINE_MS. */
  deadlineMs: number | undefined;
  /** x-petrel-hops as sent (0 when absent or not a number). */
  hops: number;
  /** Why the request cannot be forwarded as it is (answered 400 DPE), or undefined. */
  problem: string | undefined;
}

function connectionTokens(value: string): Set<string> {
  const out = new Set<string>();
  for (const token of value.split(',')) {
    const t = token.trim().toLowerCase();
    if (t !== '' && t !== 'close' && t !== 'keep-alive') out.add(t);
  }
  return out;
}

/**
 * Builds the headers to send upstream from a request's rawHeaders.
 * @param clientIp appended to x-forwarded-for
 * @param keepUpgrade keep Connection: upgrade and Upgrade (for tunnelled upgrades)
 */
export function upstreamHeaders(raw: readonly string[], clientIp: string | undefined, keepUpgrade = false): UpstreamHeaders {
  const listed = hopByHopListed(raw);
  const out: string[] = [];
  let hosts = 0;
  let hops = 0;
  let codings: string | undefined;
  let requestId: string | undefined;
  let peer: string | undefined;
  let deadlineMs: number | undefined;
  let forwardedFor: string | undefined;
  let hasProto = false;
  let hasBody = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    // HTTP/2 pseudo-headers (:method, :path, ...) travel apart from the header list (h2-attempt.ts).
    if (name.charCodeAt(0) === 58) continue;
    const lower = name.toLowerCase();
    if (lower === 'transfer-encoding') {
      hasBody = true;
      codings = codings === undefined ? value : `${codings}, ${value}`;
    } else if (lower === 'content-length' && value !== '0') hasBody = true;
    if (HOP_BY_HOP.has(lower) || listed?.has(lower)) {
      if (lower === 'te' && value.trim().toLowerCase() === 'trailers') out.push('te', 'trailers');
      else if (keepUpgrade && lower === 'upgrade') out.push(name, value);
      continue;
    }
    if (lower === 'x-forwarded-for') {
      forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      continue;
    }
    if (lower === PEER_HEADER) {
      peer = value;
      continue;
    }
    if (lower === DEADLINE_HEADER) {
      // Only a plain whole number counts; anything else is ignored rather than trusted.
      if (/^[0-9]{1,16}$/.test(value)) deadlineMs = Math.min(Number(value), MAX_DEADLINE_MS);
      continue;
    }
    if (lower === HOPS_HEADER) {
      if (/^[0-9]{1,3}$/.test(value)) hops = Math.max(hops, Number(value));
      continue;
    }
    if (lower === 'host') hosts++;
    else if (lower === 'x-request-id') requestId = value;
    else if (lower === 'x-forwarded-proto') hasProto = true;
    out.push(name, value);
  }
  if (clientIp !== undefined) forwardedFor = forwardedFor === undefined ? clientIp : `${forwardedFor}, ${clientIp}`;
  if (forwardedFor !== undefined) out.push('x-forwarded-for', forwardedFor);
  if (!hasProto) out.push('x-forwarded-proto', 'http');
  if (requestId === undefined) {
    requestId = randomUUID();
    out.push('x-request-id', requestId);
  }
  if (keepUpgrade) out.push('connection', 'upgrade');
  // Two Host headers name two destinations (RFC 9112 §3.2): no guess is safe. A transfer coding
  // other than a lone "chunked" cannot be forwarded faithfully (the coding would be lost, or read
  // differently by the next parser): refused, as nginx and Envoy do.
  let problem: string | undefined;
  if (hosts > 1) problem = `the request has ${hosts} Host headers`;
  else if (codings !== undefined && codings.trim().toLowerCase() !== 'chunked') problem = `Transfer-Encoding "${codings.slice(0, 64)}" is not supported; only "chunked" is`;
  return { headers: out, requestId, peer, hasBody, deadlineMs, hops, problem };
}

/** Why a request's protocol version makes it unsafe to forward, or undefined. */
export function versionProblem(httpVersion: string, hasTransferEncoding: boolean): string | undefined {
  if (httpVersion !== '1.1' && httpVersion !== '1.0') return `HTTP/${httpVersion} is not supported`;
  // RFC 9112 §6.1: a Transfer-Encoding in an HTTP/1.0 request cannot be trusted to frame the body.
  if (httpVersion === '1.0' && hasTransferEncoding) return 'Transfer-Encoding in an HTTP/1.0 request';
  return undefined;
}

/** Drops hop-by-hop response headers in place; returns the same object for writeHead. */
export function downstreamHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const connection = headers.connection;
  if (connection !== undefined) {
    for (const token of connectionTokens(Array.isArray(connection) ? connection.join(',') : connection)) delete headers[token];
  }
  for (const name of HOP_BY_HOP) if (headers[name] !== undefined) delete headers[name];
  return headers;
}

/** Sets a header in a flat [name, value, ...] array, replacing one of the same name (any case). */
export function setHeader(headers: string[], name: string, value: string): void {
  for (let i = 0; i < headers.length; i += 2) {
    if ((headers[i] as string).toLowerCase() === name) {
      headers[i + 1] = value;
      return;
    }
  }
  headers.push(name, value);
}
