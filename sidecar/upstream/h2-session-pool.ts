// HTTP/2 client sessions to one origin (an endpoint's inbound sidecar, the local app, a passthrough
// host). Streams share a session until the peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached, then
// another session opens. A session that receives GOAWAY leaves the pool at once (new streams go to a
// fresh one) and closes when its last stream ends; streams the peer refused are safe to retry
// (h2-attempt.ts). Windows are sized for a proxy: Node's 64 KiB default would stall a single 1 MB
// response on round trips.
import { connect as http2Connect, type ClientHttp2Session, type SecureClientSessionOptions } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ClientTls } from '../identity/mesh-tls.ts';
import { dialTls, type TlsObserver } from './tls-dial.ts';

/**
 * Each stream may have this much in flight from the peer before it must wait for us to read. The
 * relay holds at most this much per stream whose reader stalls (Node hands data to JavaScript and
 * maxSessionMemory no longer counts it), so it bounds memory per stream; 256 KiB still keeps a
 * bulk stream flowing on a cluster network (Node's 64 KiB default stalls on round trips).
 */
export const H2_STREAM_WINDOW = 256 * 1024;
/** The whole session's receive window. */
export const H2_SESSION_WINDOW = 16 * 1024 * 1024;
/** nghttp2's buffers per session, in MB, before new streams are refused (Node's default is 10). */
export const H2_MAX_SESSION_MEMORY_MB = 64;
/** A session with no stream for this long is closed. */
export const H2_IDLE_TIMEOUT_MS = 60_000;
/** The most streams put on one session when the peer announces no limit. */
const DEFAULT_STREAM_LIMIT = 1000;

export const H2_CLIENT_SETTINGS = {
  enablePush: false,
  initialWindowSize: H2_STREAM_WINDOW,
} as const;

/** One session of the pool; the attempt that acquired it hands it back with release(). */
export interface PooledSession {
  readonly session: ClientHttp2Session;
  streams: number;
  /** False once GOAWAY arrived or it closed: no new streams. */
  open: boolean;
  /** When its last stream ended (performance.now()), for the idle sweep. */
  idleSince: number;
}

export class H2SessionPool {
  readonly origin: string;
  readonly #host: string;
  readonly #port: number;
  readonly #connectTimeoutMs: number;
  /** Mesh mTLS to the endpoint's sidecar (ALPN h2); undefined for plaintext h2c. */
  readonly #tls: ClientTls | undefined;
  readonly #observer: TlsObserver | undefined;
  readonly #sessions: PooledSession[] = [];
  #closed = false;
  /**
   * Closes sessions idle past H2_IDLE_TIMEOUT_MS. One sweep per pool rather than
   * session.setTimeout(): Node never clears a session's timer when the session is destroyed, so it
   * would hold every failed session (and the streams queued on it) for the whole timeout.
   */
  #sweep: NodeJS.Timeout | undefined;

  /** @param origin http://host:port, or https://host:port with `tls` */
  constructor(origin: string, connectTimeoutMs: number, tls?: ClientTls, observer?: TlsObserver) {
    this.origin = origin;
    this.#tls = tls;
    this.#observer = observer;
    const url = new URL(origin);
    this.#host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.#port = Number(url.port || 80);
    this.#connectTimeoutMs = connectTimeoutMs;
  }

  /** A session with room for one more stream; the caller must call release() when that stream closes. */
  acquire(): PooledSession {
    if (this.#closed) throw Object.assign(new Error(`the session pool for ${this.origin} is closed`), { code: 'ERR_HTTP2_POOL_CLOSED' });
    let entry: PooledSession | undefined;
    const sessions = this.#sessions;
    for (let i = 0; i < sessions.length; i++) {
      const candidate = sessions[i] as PooledSession;
      if (candidate.open && candidate.streams < limitOf(candidate.session)) {
        entry = candidate;
        break;
      }
    }
    entry ??= this.#open();
    entry.streams++;
    return entry;
  }

  /** The stream acquire() gave room for has closed. Call once per acquire(). */
  release(entry: PooledSession): void {
    entry.streams--;
    if (entry.streams > 0) return;
    if (!entry.open) entry.session.close();
    else entry.idleSince = performance.now();
  }

  #open(): PooledSession {
    const host = this.#host;
    const port = this.#port;
    const timeoutMs = this.#connectTimeoutMs;
    const tls = this.#tls;
    const observer = this.#observer;
    const options: SecureClientSessionOptions = {
      settings: H2_CLIENT_SETTINGS,
      maxSessionMemory: H2_MAX_SESSION_MEMORY_MB,
      maxOutstandingPings: 10,
      createConnection: () => (tls === undefined ? dial(host, port, timeoutMs) : dialTls(host, port, timeoutMs, tls, ['h2'], observer)),
    };
    const session = http2Connect(this.origin, options);
    const entry: PooledSession = { session, streams: 0, open: true, idleSince: performance.now() };
    this.#sessions.push(entry);
    if (this.#sweep === undefined) {
      this.#sweep = setInterval(() => this.#closeIdle(), H2_IDLE_TIMEOUT_MS / 4);
      this.#sweep.unref();
    }
    session.once('connect', () => session.setLocalWindowSize(H2_SESSION_WINDOW));
    const leave = () => {
      if (!entry.open) return;
      entry.open = false;
      const i = this.#sessions.indexOf(entry);
      if (i >= 0) this.#sessions.splice(i, 1);
    };
    session.once('goaway', () => {
      leave();
      if (entry.streams === 0) session.close();
    });
    session.once('close', leave);
    // A session error fails its streams (each sees it); the session itself must not crash the process.
    session.on('error', leave);
    return entry;
  }

  #closeIdle(): void {
    const cutoff = performance.now() - H2_IDLE_TIMEOUT_MS;
    for (const entry of [...this.#sessions]) {
      if (entry.streams === 0 && entry.idleSince < cutoff) {
        entry.open = false;
        this.#sessions.splice(this.#sessions.indexOf(entry), 1);
        entry.session.close();
      }
    }
  }

  /** Sessions and streams, for /config_dump and the upstream-connections gauge. */
  stats(): { sessions: number; streams: number } {
    let streams = 0;
    for (const s of this.#sessions) streams += s.streams;
    return { sessions: this.#sessions.length, streams };
  }

  /** Lets open streams finish, then closes every session. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const entry of this.#sessions.splice(0)) {
      entry.open = false;
      entry.session.close();
    }
  }

  destroy(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const entry of this.#sessions.splice(0)) entry.session.destroy();
  }
}

function limitOf(session: ClientHttp2Session): number {
  // Until the peer's SETTINGS arrive, Node reports its own default; cap by ours either way.
  const max = session.remoteSettings.maxConcurrentStreams;
  return max === undefined || max <= 0 ? DEFAULT_STREAM_LIMIT : Math.min(max, DEFAULT_STREAM_LIMIT);
}

/** A TCP connection with a connect timeout whose error classifies as a connect failure (UF). */
function dial(host: string, port: number, timeoutMs: number): Socket {
  const socket = netConnect({ host, port, noDelay: true });
  const timer = setTimeout(() => {
    socket.destroy(Object.assign(new Error(`connect timeout after ${timeoutMs}ms`), { code: 'UND_ERR_CONNECT_TIMEOUT' }));
  }, timeoutMs);
  socket.once('connect', () => clearTimeout(timer));
  socket.once('close', () => clearTimeout(timer));
  return socket;
}
