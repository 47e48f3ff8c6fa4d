// A runtime endpoint: one upstream address of a mesh service and the pool that reaches it.
import type { Pool } from './undici.ts';
import { parseAuthority } from '../routing/request-target.ts';

export class Endpoint {
  readonly address: string;
  readonly name: string;
  readonly origin: string;
  /** For raw tunnels (Upgrade), which bypass the pool. */
  readonly host: string;
  readonly port: number;
  readonly pool: Pool;
  readonly poolKey: string;
  /** Requests currently in flight to this endpoint (for least-request and EWMA balancing). */
  inflight = 0;

  constructor(address: string, name: string | undefined, pool: Pool, poolKey: string) {
    this.address = address;
    this.name = name ?? address;
    this.origin = `http://${address}`;
    const parsed = parseAuthority(address);
    if (parsed === undefined || parsed.port === undefined) throw new Error(`endpoint address "${address}" is not host:port`);
    this.host = parsed.host;
    this.port = parsed.port;
    this.pool = pool;
    this.poolKey = poolKey;
  }
}
