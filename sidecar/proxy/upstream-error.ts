// Maps what undici, node:http2 and the socket layer throw onto response flags, and says whether any
// byte of the request can have reached the upstream (what retry safety for POST depends on).
import { ProxyError, type Flag } from './flags.ts';

const CONNECT_CODES = new Set([
  'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CONNECT',
  // HTTP/2 streams that never left: queued on a session that failed to connect, opened on a session
  // that was going away, refused by the peer (REFUSED_STREAM), or a pool closed by a config swap.
  'ERR_HTTP2_STREAM_CANCEL', 'ERR_HTTP2_GOAWAY_SESSION', 'ERR_HTTP2_REFUSED_STREAM', 'ERR_HTTP2_POOL_CLOSED',
  // The mTLS handshake with the callee's sidecar failed (upstream/tls-dial.ts): nothing reached the app.
  'ERR_PETREL_TLS_HANDSHAKE',
]);
/**
 * A TLS alert from the callee: in TLS 1.3 the client finishes its handshake before the server has
 * checked the client's certificate, so the server's refusal arrives as an alert on the first read.
 * The server never handed the request to its app: as safe to resend as a refused connection.
 */
const isTlsAlert = (code: string): boolean => code.startsWith('ERR_SSL_') && code.includes('ALERT');
/** undici refused the request before sending it: something in the request itself, the client's mistake. */
const CLIENT_CODES = new Set([
  'UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED', 'ERR_INVALID_ARG_TYPE', 'ERR_INVALID_HTTP_TOKEN', 'ERR_INVALID_CHAR',
  'ERR_HTTP2_INVALID_HEADER_VALUE', 'ERR_HTTP2_INVALID_CONNECTION_HEADERS', 'ERR_HTTP2_HEADER_SINGLE_VALUE', 'ERR_HTTP2_INVALID_PSEUDOHEADER',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

export function errorCode(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const cause = (err as { cause?: unknown }).cause;
    if (cause !== undefined) return errorCode(cause);
  }
  return 'UNKNOWN';
}

export interface UpstreamFailure {
  flag: Flag;
  /** True when the request never left this proxy, so resending it cannot duplicate it. */
  neverSent: boolean;
  error: ProxyError;
}

export function classifyUpstreamError(err: unknown, target: string): UpstreamFailure {
  if (err instanceof ProxyError) return { flag: err.flag, neverSent: err.flag === 'UF', error: err };
  const code = errorCode(err);
  const detail = err instanceof Error ? err.message : String(err);
  let flag: Flag;
  if (CLIENT_CODES.has(code)) {
    return { flag: 'DPE', neverSent: true, error: new ProxyError('DPE', `the request cannot be forwarded: ${detail}`, 400, { cause: err }) };
  }
  if (CONNECT_CODES.has(code) || isTlsAlert(code)) flag = 'UF';
  else if (TIMEOUT_CODES.has(code)) flag = 'UT';
  else flag = 'UC';
  const what = flag === 'UF' ? 'connect to' : flag === 'UT' ? 'timed out waiting for' : 'connection closed by';
  return { flag, neverSent: flag === 'UF', error: new ProxyError(flag, `${what} ${target}: ${code} ${detail}`, undefined, { cause: err }) };
}
