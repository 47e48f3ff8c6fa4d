// One undici Pool per upstream origin, kept across config snapshots so keep-alive connections
// survive a policy change. Pools that no snapshot uses any more are closed gracefully: requests
// in flight on them finish first.
import { Agent, Pool } from './undici.ts';

/** Idle time after which a body stream is cut (Envoy's stream_idle_timeout); 5 minutes. */
export const STREAM_IDLE_TIMEOUT_MS = 300_000;

export interface PoolStatsTotal { connected: number; pending: number; running: number }

export class PoolRegistry {
  readonly #pools = new Map<string, Pool>();
  readonly #agents = new Map<number, Agent>();

  static key(origin: string, connectTimeoutMs: number): string {
    return `${origin}|${connectTimeoutMs}`;
  }

  /** The pool for an origin such as "http://127.0.0.1:15006", created on first use. */
  pool(origin: string, connectTimeoutMs: number): Pool {
    const key = PoolRegistry.key(origin, connectTimeoutMs);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new Pool(origin, {
        connect: { timeout: connectTimeoutMs },
        keepAliveTimeout: 30_000,
        keepAliveMaxTimeout: 600_000,
        headersTimeout: STREAM_IDLE_TIMEOUT_MS,
        bodyTimeout: STREAM_IDLE_TIMEOUT_MS,
      });
      this.#pools.set(key, pool);
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
  }

  stats(): PoolStatsTotal {
    const total = { connected: 0, pending: 0, running: 0 };
    for (const pool of this.#pools.values()) {
      const s = pool.stats;
      total.connected += s.connected;
      total.pending += s.pending;
      total.running += s.running;
    }
    return total;
  }

  async close(): Promise<void> {
    const all = [...this.#pools.values(), ...this.#agents.values()];
    this.#pools.clear();
    this.#agents.clear();
    await Promise.allSettled(all.map((d) => d.close()));
  }

  destroy(): void {
    for (const d of [...this.#pools.values(), ...this.#agents.values()]) void d.destroy().catch(() => {});
    this.#pools.clear();
    this.#agents.clear();
  }
}
