// One undici Pool (HTTP/1.1) and one H2SessionPool (HTTP/2) per upstream origin, kept across config
// snapshots so keep-alive connections survive a policy change. Pools that no snapshot uses any more are closed gracefully: requests
// in flight on them finish first.
import { Agent, Pool } from './undici.ts';
import { H2SessionPool } from './h2-session-pool.ts';
import type { ClientTls } from '../identity/mesh-tls.ts';
import { meshConnector, type TlsObserver } from './tls-dial.ts';

/** Idle time after which a body stream is cut (Envoy's stream_idle_timeout); 5 minutes. */
export const STREAM_IDLE_TIMEOUT_MS = 300_000;

export interface PoolStatsTotal { connected: number; pending: number; running: number; h2Sessions: number; h2Streams: number }

/** Passthrough HTTP/2 origins with sessions kept open at once. */
const MAX_PASSTHROUGH_H2 = 256;

export class PoolRegistry {
  readonly #pools = new Map<string, Pool>();
  readonly #agents = new Map<number, Agent>();
  readonly #h2 = new Map<string, H2SessionPool>();
  readonly #passthroughH2 = new Map<string, H2SessionPool>();

  /** Where mesh mTLS handshakes are counted and their failures logged. */
  tlsObserver: TlsObserver | undefined;

  /** A pool's key: origin, connect timeout and, for mTLS, the TLS generation and expected identity. */
  static key(origin: string, connectTimeoutMs: number, tls?: ClientTls): string {
    return tls === undefined ? `${origin}|${connectTimeoutMs}` : `${origin}|${connectTimeoutMs}|${tls.key}`;
  }

  /**
   * The pool for an origin such as "http://127.0.0.1:15006" (or https:// with `tls`: mesh mTLS to
   * that endpoint's sidecar), created on first use.
   */
  pool(origin: string, connectTimeoutMs: number, tls?: ClientTls): Pool {
    const key = PoolRegistry.key(origin, connectTimeoutMs, tls);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new Pool(origin, {
        // HTTP/1.1 only: HTTP/2 requests go through h2() (ALPN h2 on its own sessions).
        allowH2: false,
        connect: tls === undefined ? { timeout: connectTimeoutMs } : meshConnector(tls, connectTimeoutMs, this.tlsObserver),
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        headersTimeout: STREAM_IDLE_TIMEOUT_MS,
        bodyTimeout: STREAM_IDLE_TIMEOUT_MS,
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /** The HTTP/2 sessions to an origin, created on first use; the same key as its undici pool. */
  h2(origin: string, connectTimeoutMs: number, tls?: ClientTls): H2SessionPool {
    const key = PoolRegistry.key(origin, connectTimeoutMs, tls);
    let pool = this.#h2.get(key);
    if (pool === undefined) this.#h2.set(key, (pool = new H2SessionPool(origin, connectTimeoutMs, tls, this.tlsObserver)));
    return pool;
  }

  /**
   * HTTP/2 sessions for passthrough, one pool per host:port and connect timeout. No snapshot names
   * these hosts, so they are bounded by count instead: past MAX_PASSTHROUGH_H2 the oldest pool is
   * closed (its streams finish first).
   */
  passthroughH2(host: string, port: number, connectTimeoutMs: number): H2SessionPool {
    const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const key = PoolRegistry.key(origin, connectTimeoutMs);
    let pool = this.#passthroughH2.get(key);
    if (pool === undefined) {
      if (this.#passthroughH2.size >= MAX_PASSTHROUGH_H2) {
        const [oldestKey, oldest] = this.#passthroughH2.entries().next().value as [string, H2SessionPool];
        this.#passthroughH2.delete(oldestKey);
        oldest.close();
      }
      this.#passthroughH2.set(key, (pool = new H2SessionPool(origin, connectTimeoutMs)));
    }
    return pool;
  }

  /** An agent for passthrough traffic to origins outside the mesh. */
  agent(connectTimeoutMs: number): Agent {
    let agent = this.#agents.get(connectTimeoutMs);
    if (agent === undefined) {
      agent = new Agent({
        connect: { timeout: connectTimeoutMs },
        keepAliveTimeout: 30_000,
        headersTimeout: STREAM_IDLE_TIMEOUT_MS,
        bodyTimeout: STREAM_IDLE_TIMEOUT_MS,
      });
      this.#agents.set(connectTimeoutMs, agent);
    }
    return agent;
  }

  /** Closes every pool whose key is not in `inUse`, letting its requests finish. */
  retain(inUse: ReadonlySet<string>): void {
    for (const [key, pool] of this.#pools) {
      if (!inUse.has(key)) {
        this.#pools.delete(key);
        pool.close().catch(() => pool.destroy());
      }
    }
    for (const [key, pool] of this.#h2) {
      if (!inUse.has(key)) {
        this.#h2.delete(key);
        pool.close();
      }
    }
  }

  stats(): PoolStatsTotal {
    const total = { connected: 0, pending: 0, running: 0, h2Sessions: 0, h2Streams: 0 };
    for (const pool of this.#pools.values()) {
      const s = pool.stats;
      total.connected += s.connected;
      total.pending += s.pending;
      total.running += s.running;
    }
    for (const pool of [...this.#h2.values(), ...this.#passthroughH2.values()]) {
      const s = pool.stats();
      total.connected += s.sessions;
      total.h2Sessions += s.sessions;
      total.h2Streams += s.streams;
    }
    return total;
  }

  async close(): Promise<void> {
    const all = [...this.#pools.values(), ...this.#agents.values()];
    this.#pools.clear();
    this.#agents.clear();
    for (const pool of [...this.#h2.values(), ...this.#passthroughH2.values()]) pool.close();
    this.#h2.clear();
    this.#passthroughH2.clear();
    await Promise.allSettled(all.map((d) => d.close()));
  }

  destroy(): void {
    for (const d of [...this.#pools.values(), ...this.#agents.values()]) void d.destroy().catch(() => {});
    for (const pool of [...this.#h2.values(), ...this.#passthroughH2.values()]) pool.destroy();
    this.#pools.clear();
    this.#agents.clear();
    this.#h2.clear();
    this.#passthroughH2.clear();
  }
}
