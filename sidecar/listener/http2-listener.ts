// The HTTP/2 side of a listener (plaintext h2 with prior knowledge), hardened for a proxy that faces
// untrusted clients. It never listens itself: the connection sniffer hands it the connections that
// open with the HTTP/2 preface. Node's http2 core (nghttp2) enforces the protocol; the options
// below bound what one client may cost:
// - rapid reset (CVE-2023-44487) and other invalid-frame floods: nghttp2's stream-reset rate limit
//   and Node's maxSessionInvalidFrames / maxSessionRejectedStreams close the session with GOAWAY;
// - CONTINUATION floods: nghttp2 caps CONTINUATION frames per header block;
// - SETTINGS and PING floods: maxSettings per frame, maxOutstandingPings, and nghttp2's cap on
//   queued ACKs (a client that sends without reading is cut);
// - oversized header lists: maxHeaderListSize (the same budget as HTTP/1.1's maxHeaderSize) and
//   maxHeaderListPairs;
// - a reader that never reads: flow control stops the upstream once the window is full, the
//   relay holds at most a window per stream, maxSessionMemory caps nghttp2's buffers, and a stream
//   idle for the stream idle timeout is reset.
import { constants, createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ListenerLimits } from './http-listener.ts';
import { isGrpcContentType } from '../proxy/grpc.ts';
import { h2LocalReply } from '../proxy/local-reply.ts';
import { H2_MAX_SESSION_MEMORY_MB, H2_SESSION_WINDOW, H2_STREAM_WINDOW } from '../upstream/h2-session-pool.ts';
import { STREAM_IDLE_TIMEOUT_MS } from '../upstream/pool-registry.ts';

/**
 * Streams one client connection may have open at once (Go's default is 250). With the stream
 * window it bounds what one connection can make the sidecar hold: 256 x 256 KiB = 64 MiB.
 */
export const H2_MAX_CONCURRENT_STREAMS = 256;
/** Headers per request, pseudo-headers included. */
const MAX_HEADER_PAIRS = 256;

export interface H2StreamHandler {
  (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, endStream: boolean, rawHeaders: string[], socket: Socket): void;
}

/** The TCP connection of each session (session.socket is a proxy object, not the socket itself). */
const SOCKET = Symbol('petrel.socket');
/** Streams open on the session, and when its last one closed (performance.now()). */
const STREAMS = Symbol('petrel.streams');
const IDLE_SINCE = Symbol('petrel.idleSince');
type SessionWithSocket = ServerHttp2Session & { [SOCKET]?: Socket; [STREAMS]: number; [IDLE_SINCE]: number };

/** A header list's size as HTTP/2 counts it: each field's name and value plus 32. */
function headerListSize(raw: string[]): number {
  let size = 0;
  for (let i = 0; i < raw.length; i += 2) size += (raw[i] as string).length + (raw[i + 1] as string).length + 32;
  return size;
}

function onStreamClosed(this: ServerHttp2Stream): void {
  const session = this.session as SessionWithSocket | undefined;
  if (session !== undefined && --session[STREAMS] === 0) session[IDLE_SINCE] = performance.now();
}

export interface H2Listener {
  readonly server: Http2Server;
  /** Serves one connection that opened with the HTTP/2 preface (its bytes still unread or unshifted). */
  serve(socket: Socket): void;
  /** Sessions open now, for draining. */
  readonly sessions: Set<ServerHttp2Session>;
}

/**
 * @param draining while true, each session that opens a stream is told GOAWAY (its streams in
 * flight finish; the client opens its next ones elsewhere), as HTTP/1.1 responses then say
 * Connection: close.
 */
export function createH2Listener(limits: ListenerLimits, onStream: H2StreamHandler, draining: () => boolean): H2Listener {
  const server = createServer({
    settings: {
      maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS,
      initialWindowSize: H2_STREAM_WINDOW,
      maxHeaderListSize: limits.maxHeaderSize,
      enablePush: false,
    },
    maxHeaderListPairs: MAX_HEADER_PAIRS,
    maxSessionMemory: H2_MAX_SESSION_MEMORY_MB,
    maxOutstandingPings: 10,
    maxSettings: 32,
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
    // Client resets beyond a burst of 1000 and 33/s close the session (rapid reset).
    streamResetBurst: 1000,
    streamResetRate: 33,
  });
  const sessions = new Set<ServerHttp2Session>();
  let pending: Socket | undefined;
  // A connection with no stream for the keep-alive timeout is closed, as an idle HTTP/1.1 one is.
  // One sweep per listener rather than session.setTimeout(): Node never clears a session's timer
  // when the session is destroyed, so every closed connection would stay in memory that long.
  const sweep = setInterval(() => {
    const cutoff = performance.now() - limits.keepAliveTimeoutMs;
    for (const session of sessions) {
      const s = session as SessionWithSocket;
      if (s[STREAMS] === 0 && s[IDLE_SINCE] < cutoff) session.close();
    }
  }, Math.max(250, Math.min(limits.keepAliveTimeoutMs / 4, 15_000)));
  sweep.unref();
  server.once('close', () => clearInterval(sweep));
  server.on('session', (session: SessionWithSocket) => {
    if (pending !== undefined) session[SOCKET] = pending;
    session[STREAMS] = 0;
    session[IDLE_SINCE] = performance.now();
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.on('error', () => session.destroy());
    session.once('connect', () => session.setLocalWindowSize(H2_SESSION_WINDOW));
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
    const socket = (stream.session as SessionWithSocket | undefined)?.[SOCKET];
    if (socket === undefined) {
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    (stream.session as SessionWithSocket)[STREAMS]++;
    stream.once('close', onStreamClosed);
    stream.on('error', () => {}); // a reset stream is the exchange's business, never the process's
    // nghttp2 applies our SETTINGS_MAX_HEADER_LIST_SIZE only once the client has ACKed it: a client
    // that sends first (or never ACKs) gets the same budget checked here (RFC 9113 §6.5.2 sizes).
    if (headerListSize(rawHeaders) > limits.maxHeaderSize) {
      h2LocalReply(stream, isGrpcContentType(headers['content-type']), 'DPE', `the request's header list is over ${limits.maxHeaderSize} bytes`, 431);
      return;
    }
    stream.setTimeout(STREAM_IDLE_TIMEOUT_MS, () => stream.close(constants.NGHTTP2_CANCEL));
    if (draining() && stream.session !== undefined && !stream.session.closed) stream.session.close();
    onStream(stream, headers, (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0, rawHeaders, socket);
  });
  return {
    server,
    sessions,
    serve(socket: Socket): void {
      // The HTTP/1.1 server's half-open sockets would let a client's FIN go unnoticed: its
      // session, streams, buffered data and concurrency slots would wait for the idle timeouts.
      socket.allowHalfOpen = false;
      pending = socket;
      try {
        server.emit('connection', socket);
      } finally {
        pending = undefined;
      }
    },
  };
}
