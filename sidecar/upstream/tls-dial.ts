// Dialling another sidecar over mesh mTLS, for undici pools (HTTP/1.1), HTTP/2 sessions and raw
// Upgrade tunnels alike. A handshake that fails (the callee's certificate names the wrong identity,
// is expired or from another CA; the callee refused ours) fails with code ERR_PETREL_TLS_HANDSHAKE,
// which the proxy maps to UF: no byte of the request reached the app, so a retry is safe. Each
// handshake and each failure is counted and the failure logged with its reason.
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { ClientTls } from '../identity/mesh-tls.ts';
import { buildConnector, type Connector } from './undici.ts';

export const TLS_HANDSHAKE_ERROR = 'ERR_PETREL_TLS_HANDSHAKE';

/** Where handshakes are reported (the sidecar's metrics and log). */
export interface TlsObserver {
  handshake(direction: 'inbound' | 'outbound'): void;
  handshakeFailed(direction: 'inbound' | 'outbound', reason: string, peer: string, err: Error): void;
}

/** A bounded reason for the metric label, from what OpenSSL or our identity check said. */
export function handshakeReason(err: Error): string {
  // OpenSSL's verify codes (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE) read as words too.
  const text = `${(err as { code?: string }).code ?? ''} ${err.message}`.toLowerCase().replace(/_/g, ' ');
  if (text.includes('petrel peer identity') || text.includes('altname')) return 'wrong identity';
  if (text.includes('expired')) return 'certificate expired';
  if (text.includes('not yet valid')) return 'certificate not yet valid';
  if (text.includes('unknown ca') || text.includes('unable to get') || text.includes('self-signed') || text.includes('self signed') || text.includes('unable to verify')) return 'unknown CA';
  if (text.includes('certificate required') || text.includes('did not return a certificate') || text.includes('no certificate')) return 'no client certificate';
  if (text.includes('timeout') || text.includes('timed out')) return 'timeout';
  if (text.includes('protocol version') || text.includes('wrong version') || text.includes('unsupported protocol')) return 'protocol version';
  if (text.includes('econnreset') || text.includes('socket hang up') || text.includes('epipe') || text.includes('disconnected')) return 'reset';
  return 'other';
}

function handshakeError(err: Error, peer: string, expected: string): Error {
  return Object.assign(new Error(`mTLS handshake with ${peer} (expected ${expected}) failed: ${err.message}`, { cause: err }), { code: TLS_HANDSHAKE_ERROR });
}

/** An undici connector that speaks mesh mTLS with ALPN http/1.1 and reuses TLS sessions. */
export function meshConnector(tls: ClientTls, timeoutMs: number, observer: TlsObserver | undefined): Connector {
  const connect = buildConnector({ ...tls.options, timeout: timeoutMs, allowH2: false } as Parameters<typeof buildConnector>[0]);
  return (options, callback) => {
    connect(options, (err, socket) => {
      const peer = `${options.hostname}:${options.port}`;
      if (err !== null) {
        const connectFailure = isConnectPhase(err);
        if (!connectFailure) observer?.handshakeFailed('outbound', handshakeReason(err), peer, err);
        callback(connectFailure ? err : handshakeError(err, peer, tls.expected.uri), null);
        return;
      }
      observer?.handshake('outbound');
      callback(null, socket);
    });
  };
}

/**
 * Failures to reach the peer at all keep their own codes (connection refused, no route, connect
 * timeout): they are not TLS's. Anything else before the handshake completes (a reset, the peer
 * closing: a sidecar that has no certificate yet refuses TLS that way) becomes a handshake error:
 * either way no byte of the request can have been sent, so a retry is safe.
 */
const CONNECT_PHASE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

function isConnectPhase(err: Error): boolean {
  return CONNECT_PHASE_CODES.has((err as { code?: string }).code ?? '');
}

/** Last TLS session per expected identity and address, for resumption by HTTP/2 sessions and tunnels. */
const sessions = new Map<string, Buffer>();
const MAX_SESSIONS = 1024;

/** A TLS connection for an HTTP/2 session or a tunnel; errors in the handshake get TLS_HANDSHAKE_ERROR. */
export function dialTls(host: string, port: number, timeoutMs: number, tls: ClientTls, alpn: string[], observer: TlsObserver | undefined): TLSSocket {
  const sessionKey = `${tls.key}|${host}:${port}`;
  const socket = tlsConnect({ ...tls.options, host, port, ALPNProtocols: alpn, session: sessions.get(sessionKey) });
  socket.setNoDelay(true);
  const peer = `${host}:${port}`;
  const timer = setTimeout(() => {
    socket.destroy(Object.assign(new Error(`connect timeout after ${timeoutMs}ms`), { code: 'UND_ERR_CONNECT_TIMEOUT' }));
  }, timeoutMs);
  socket.on('session', (session: Buffer) => {
    if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
    sessions.set(sessionKey, session);
  });
  let secure = false;
  socket.once('secureConnect', () => {
    secure = true;
    clearTimeout(timer);
    observer?.handshake('outbound');
  });
  socket.once('close', () => clearTimeout(timer));
  // Rewrites a handshake failure's code before the session or request sees it.
  socket.prependOnceListener('error', (err: Error & { code?: string }) => {
    if (secure || isConnectPhase(err)) return;
    observer?.handshakeFailed('outbound', handshakeReason(err), peer, err);
    const wrapped = handshakeError(err, peer, tls.expected.uri);
    err.message = wrapped.message;
    err.code = TLS_HANDSHAKE_ERROR;
  });
  return socket;
}
