// Sits in front of a listener's HTTP servers. A connection made straight to the listener (an app
// using HTTP_PROXY, a sidecar in local mode) is HTTP: its first bytes say whether HTTP/2 (the
// preface) or HTTP/1.1, and it goes to that server. A connection iptables redirected here carries
// its original destination: its first bytes decide whether it is HTTP/1.x or HTTP/2, proxied with
// policies, or anything else, passed through as opaque TCP to that destination.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { detectProtocol, isPrefaceStart } from './protocol-detection.ts';
import { clientHelloServerName, TLS_HANDSHAKE } from './client-hello.ts';
import { originalDestination, type OriginalDestination } from './original-destination.ts';

export interface InterceptorOptions {
  /** Whether a connection may be served at all (the outbound listener serves only its own pod). */
  admit?(socket: Socket): boolean;
  /** Whether a redirected connection may be HTTP at all; "opaque" and "refuse" skip detection and go to opaque(). */
  classify(destination: OriginalDestination): 'detect' | 'opaque' | 'refuse';
  /** A redirected connection silent this long is opaque (the server speaks first). Default 100 ms. */
  detectTimeoutMs: number;
  /** Takes over a redirected connection that is not HTTP; `head` holds the bytes already read. */
  opaque(socket: Socket, destination: OriginalDestination, head: Buffer): void;
  /** Serves a connection that opened with the HTTP/2 preface (its bytes unshifted back). */
  h2(socket: Socket): void;
  /** A connection that sends nothing for this long before its protocol is known is closed. */
  firstBytesTimeoutMs: number;
  /**
   * Mesh mTLS (the inbound listener): a direct connection that opens with a TLS handshake, or a
   * redirected one whose ClientHello names a mesh identity (`isMeshName` of its SNI), is handed
   * to `terminate` with its bytes unshifted back. Without it, TLS is opaque (redirected) or closed.
   */
  tls?: { terminate(socket: Socket): void; isMeshName(serverName: string): boolean };
}

export const DEFAULT_DETECT_TIMEOUT_MS = 100;

const redirected = new WeakMap<Socket, OriginalDestination>();

/** The original destination of a request's connection, when iptables redirected it. */
export function redirectedDestination(socket: Socket): OriginalDestination | undefined {
  return redirected.get(socket);
}

type ConnectionListener = (this: Server, socket: Socket) => void;

/** Gives a connection (back) to the HTTP server, with bytes already read from it put back first. */
export type HandOver = (socket: Socket, head: Buffer) => void;

export interface Interceptor {
  /** Hands a connection (back) to the HTTP/1.1 server: a refused Upgrade's connection. */
  readonly toHttp1: HandOver;
  /** Serves a connection as if it had just been accepted, sniffing HTTP/1.1 or HTTP/2 (a CONNECT tunnel's). */
  readonly serve: (socket: Socket, head: Buffer) => void;
}

/** Installs the interceptor; returns how to hand a connection to the HTTP servers directly. */
export function interceptConnections(server: Server, options: InterceptorOptions): Interceptor {
  // http.Server parses every connection in its own 'connection' listener; we run first and call it
  // for the connections that are HTTP.
  const toHttp = server.listeners('connection') as ConnectionListener[];
  server.removeAllListeners('connection');
  const toHttp1: HandOver = (socket, head) => {
    if (head.length > 0) socket.unshift(head);
    for (const listener of toHttp) listener.call(server, socket);
    socket.resume();
  };
  const toH2 = (socket: Socket, head: Buffer) => {
    // The session reads the socket's handle itself and takes the unshifted bytes first; resuming
    // the JS stream here would race it for the data.
    if (head.length > 0) socket.unshift(head);
    options.h2(socket);
  };
  const tls = options.tls;
  const toTls = (socket: Socket, head: Buffer) => {
    if (head.length > 0) socket.unshift(head);
    tls!.terminate(socket);
  };
  const serve = (socket: Socket, head: Buffer) => {
    if (head.length > 0) socket.unshift(head);
    detect(socket, options.firstBytesTimeoutMs, sniffHttpVersion, (kind, bytes) => {
      if (kind === 'opaque') socket.destroy(); // silent past the timeout, or closed before a request
      else if (kind === 'tls') {
        if (tls === undefined) socket.destroy();
        else toTls(socket, bytes);
      } else if (kind === 'h2') toH2(socket, bytes);
      else toHttp1(socket, bytes);
    });
  };
  // A redirected connection: HTTP, mesh mTLS (a ClientHello naming a mesh identity), or opaque.
  const classifyRedirected = (head: Buffer): Kind | 'need-more' => {
    if (tls !== undefined && head[0] === TLS_HANDSHAKE) {
      const hello = clientHelloServerName(head);
      if (hello.kind === 'need-more') return 'need-more';
      return hello.kind === 'sni' && tls.isMeshName(hello.name) ? 'tls' : 'opaque';
    }
    const kind = detectProtocol(head);
    return kind;
  };
  server.on('connection', (socket: Socket) => {
    if (options.admit !== undefined && !options.admit(socket)) {
      socket.destroy();
      return;
    }
    const destination = originalDestination(socket);
    if (destination === undefined) return serve(socket, EMPTY);
    redirected.set(socket, destination);
    if (options.classify(destination) !== 'detect') return options.opaque(socket, destination, EMPTY);
    detect(socket, options.detectTimeoutMs, classifyRedirected, (kind, head) => {
      if (kind === 'opaque') options.opaque(socket, destination, head);
      else if (kind === 'tls') toTls(socket, head);
      else if (kind === 'h2') toH2(socket, head);
      else toHttp1(socket, head);
    });
  });
  return { toHttp1, serve };
}

const EMPTY = Buffer.alloc(0);

/** A direct connection is mesh TLS when it opens with a handshake record, else HTTP: HTTP/2 when it opens with the preface, else HTTP/1.1. */
function sniffHttpVersion(head: Buffer): 'http1' | 'h2' | 'tls' | 'need-more' {
  if (head[0] === TLS_HANDSHAKE) return 'tls';
  const start = isPrefaceStart(head);
  return start === 'yes' ? 'h2' : start === 'no' ? 'http1' : 'need-more';
}

type Kind = 'http1' | 'h2' | 'tls' | 'opaque';

function detect(socket: Socket, timeoutMs: number, classify: (head: Buffer) => Kind | 'need-more', decided: (kind: Kind, head: Buffer) => void): void {
  let head: Buffer = EMPTY;
  const finish = (kind: Kind) => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onClose);
    socket.pause();
    decided(kind, head);
  };
  const onData = (chunk: Buffer) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const kind = classify(head);
    if (kind !== 'need-more') finish(kind);
  };
  const onClose = () => clearTimeout(timer);
  // The client half-closed before its bytes said what it speaks: not HTTP. (The listener allows
  // half-open connections, so without this the socket would linger until the timeout.)
  const onEnd = () => finish('opaque');
  const timer = setTimeout(() => finish('opaque'), timeoutMs);
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.on('close', onClose);
  socket.on('error', () => socket.destroy());
}
