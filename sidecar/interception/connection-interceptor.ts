// Sits in front of a listener's HTTP server. A connection made straight to the listener (an app
// using HTTP_PROXY, a sidecar in local mode) goes to HTTP at once, untouched. A connection iptables
// redirected here carries its original destination: its first bytes decide whether it is HTTP/1.x,
// proxied with policies, or anything else, passed through as opaque TCP to that destination.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { detectProtocol } from './protocol-detection.ts';
import { originalDestination, type OriginalDestination } from './original-destination.ts';

export interface InterceptorOptions {
  /** Whether a connection may be served at all (the outbound listener serves only its own pod). */
  admit?(socket: Socket): boolean;
  /** Whether a redirected connection may be HTTP at all; "opaque" and "refuse" skip detection and go to opaque(). */
  classify(destination: OriginalDestination): 'detect' | 'opaque' | 'refuse';
  /** A redirected connection silent this long is opaque (the server speaks first). Default 100 ms. */
  detectTimeoutMs: number;
  /** Takes over a redirected connection that is not HTTP/1.x; `head` holds the bytes already read. */
  opaque(socket: Socket, destination: OriginalDestination, head: Buffer): void;
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

/** Installs the interceptor; returns how to hand a connection to the HTTP server directly. */
export function interceptConnections(server: Server, options: InterceptorOptions): HandOver {
  // http.Server parses every connection in its own 'connection' listener; we run first and call it
  // for the connections that are HTTP.
  const toHttp = server.listeners('connection') as ConnectionListener[];
  server.removeAllListeners('connection');
  const handOver = (socket: Socket) => {
    for (const listener of toHttp) listener.call(server, socket);
  };
  server.on('connection', (socket: Socket) => {
    if (options.admit !== undefined && !options.admit(socket)) {
      socket.destroy();
      return;
    }
    const destination = originalDestination(socket);
    if (destination === undefined) return handOver(socket);
    redirected.set(socket, destination);
    if (options.classify(destination) !== 'detect') return options.opaque(socket, destination, Buffer.alloc(0));
    detect(socket, options.detectTimeoutMs, (kind, head) => {
      if (kind === 'opaque') return options.opaque(socket, destination, head);
      if (head.length > 0) socket.unshift(head);
      handOver(socket);
      socket.resume();
    });
  });
  return (socket, head) => {
    if (head.length > 0) socket.unshift(head);
    handOver(socket);
    socket.resume();
  };
}

function detect(socket: Socket, timeoutMs: number, decided: (kind: 'http1' | 'opaque', head: Buffer) => void): void {
  let head: Buffer = Buffer.alloc(0);
  const finish = (kind: 'http1' | 'opaque') => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.pause();
    decided(kind, head);
  };
  const onData = (chunk: Buffer) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    const kind = detectProtocol(head);
    if (kind !== 'need-more') finish(kind);
  };
  const onClose = () => clearTimeout(timer);
  const timer = setTimeout(() => finish('opaque'), timeoutMs);
  socket.on('data', onData);
  socket.on('close', onClose);
  socket.on('error', () => socket.destroy());
}
