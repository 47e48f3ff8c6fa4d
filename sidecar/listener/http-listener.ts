// An HTTP/1.1 listener hardened for a proxy that faces untrusted clients: bounded header size (431),
// a header timeout against slowloris (408), strict parsing so smuggling attempts (conflicting
// Content-Length and Transfer-Encoding, bad chunk sizes) get 400 and reach nobody, and a connection
// limit. Protocol errors are answered with the DPE flag.
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { FLAGS } from '../proxy/flags.ts';
import { ERROR_HEADER } from '../proxy/local-reply.ts';

export interface ListenerLimits {
  /** Largest request head in bytes; larger gets 431. Default 16384. */
  maxHeaderSize: number;
  /** Time allowed to receive a complete request head; then 408. Default 10000 ms. */
  headersTimeoutMs: number;
  /** Idle keep-alive connections are closed after this. Default 60000 ms. */
  keepAliveTimeoutMs: number;
  /** Open connections; further ones are closed at once. Default 10000. */
  maxConnections: number;
}

export const DEFAULT_LIMITS: ListenerLimits = {
  maxHeaderSize: 16384,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 60_000,
  maxConnections: 10_000,
};

export interface ListenerHandlers {
  request(req: IncomingMessage, res: ServerResponse): void;
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  connect?(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** A connection was refused by maxConnections. */
  dropped?(): void;
}

function protocolErrorStatus(code: string | undefined): number {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW': return 431;
    case 'ERR_HTTP_REQUEST_TIMEOUT': return 408;
    default: return FLAGS.DPE.status;
  }
}

export function createListener(limits: ListenerLimits, handlers: ListenerHandlers): Server {
  const server = createServer({
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: 0, // bodies may stream for long; idle bodies are cut by the stream idle timeout
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    requireHostHeader: true,
    insecureHTTPParser: false,
    noDelay: true,
  }, handlers.request);
  server.maxConnections = limits.maxConnections;
  if (handlers.upgrade) server.on('upgrade', handlers.upgrade);
  if (handlers.connect) server.on('connect', handlers.connect);
  if (handlers.dropped) server.on('drop', handlers.dropped);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const answer = () => {
      if (!socket.writable) return void socket.destroy();
      const status = protocolErrorStatus(err.code);
      const body = JSON.stringify({ error: 'DPE', code: FLAGS.DPE.code, message: `${err.code ?? 'error'}: ${err.message}` });
      socket.end(
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\n${ERROR_HEADER}: DPE\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    };
    // A bad request pipelined behind a good one: the good one was read whole and forwarded, so its
    // answer must reach the client first (else the client, seeing only the 400, would send it
    // again). A request whose own body was malformed gets no answer but the cut.
    const busy = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (busy !== undefined && busy !== null && !busy.writableFinished) {
      if (busy.req.complete) {
        // 'prefinish': the answer's last bytes are queued on the socket, and Node has not yet
        // closed a connection whose parser failed.
        busy.once('prefinish', answer);
        busy.once('close', () => { if (!busy.writableFinished) socket.destroy(); });
        return;
      }
      if (busy.headersSent) return void socket.destroy();
    }
    answer();
  });
  return server;
}
