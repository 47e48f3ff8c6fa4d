// One sidecar's config stream: the snapshots pushed to it (NDJSON lines on a long-lived response),
// what it acknowledged or rejected, and its status as `petrel status` shows it.
import type { ServerResponse } from 'node:http';
import { SNAPSHOT_JSON_HEAD, type NodeIdentity } from './compiler.ts';

export type SyncState = 'SYNCED' | 'STALE' | 'NACKED';

export interface SidecarStatus {
  id: string;
  service: string;
  namespace: string;
  address: string;
  name: string;
  version: number | null;
  state: SyncState;
  error: string | null;
  connected: boolean;
  lastSeen: string;
}

/** Sent between snapshots so that both sides notice a dead connection. */
export const HEARTBEAT_MS = 10_000;

export class Subscription {
  readonly id: string;
  readonly node: NodeIdentity;
  readonly address: string;
  readonly name: string;
  readonly #res: ServerResponse;
  sentVersion: number | null = null;
  sentHash: string | null = null;
  sentAt = 0;
  ackedVersion: number | null = null;
  nack: { version: number; error: string } | null = null;
  lastSeen = Date.now();
  connected = true;
  readonly #heartbeat: NodeJS.Timeout;

  constructor(id: string, node: NodeIdentity, address: string, name: string, res: ServerResponse) {
    this.id = id;
    this.node = node;
    this.address = address;
    this.name = name;
    this.#res = res;
    this.#write({ type: 'hello', id, heartbeatMs: HEARTBEAT_MS });
    this.#heartbeat = setInterval(() => this.#write({ type: 'ping' }), HEARTBEAT_MS);
    this.#heartbeat.unref();
    res.once('close', () => {
      this.connected = false;
      clearInterval(this.#heartbeat);
    });
  }

  /** The version the sidecar said it held when it subscribed. */
  heldVersion: number | null = null;

  /** The sidecar subscribed holding `version`; `current` when that content is what it should hold. */
  resumed(version: number, hash: string, current: boolean): void {
    this.sentVersion = version;
    this.sentHash = hash;
    this.heldVersion = version;
    if (current) this.ackedVersion = version;
  }

  /** The content it resumed with turned out current: it is in sync without a push. */
  confirmHeld(): void {
    if (this.ackedVersion === null && this.heldVersion !== null && this.sentVersion === this.heldVersion) this.ackedVersion = this.heldVersion;
  }

  /** Sends a snapshot given as JSON without its version; the version goes in after apiVersion and kind. */
  push(version: number, hash: string, json: string): void {
    this.sentVersion = version;
    this.sentHash = hash;
    this.sentAt = performance.now();
    if (!this.#res.writableEnded) {
      this.#res.write(`{"type":"snapshot","snapshot":${SNAPSHOT_JSON_HEAD}"version":${version},${json.slice(SNAPSHOT_JSON_HEAD.length)}}\n`);
    }
  }

  /** Records an ACK or NACK; returns the seconds since the push for an ACK of the current version. */
  acknowledge(version: number, ok: boolean, error: string | undefined): number | undefined {
    this.lastSeen = Date.now();
    if (ok) {
      this.ackedVersion = version;
      if (this.nack?.version === version) this.nack = null;
      return version === this.sentVersion ? (performance.now() - this.sentAt) / 1000 : undefined;
    }
    this.nack = { version, error: error ?? 'rejected without a reason' };
    return undefined;
  }

  status(): SidecarStatus {
    let state: SyncState = 'STALE';
    if (this.nack !== null && this.nack.version === this.sentVersion) state = 'NACKED';
    else if (this.sentVersion !== null && this.ackedVersion === this.sentVersion && this.connected) state = 'SYNCED';
    return {
      id: this.id, service: this.node.service, namespace: this.node.namespace, address: this.address, name: this.name,
      version: this.ackedVersion ?? this.heldVersion, state, error: state === 'NACKED' ? (this.nack?.error ?? null) : null,
      connected: this.connected, lastSeen: new Date(this.lastSeen).toISOString(),
    };
  }

  close(): void {
    clearInterval(this.#heartbeat);
    this.#res.destroy();
  }

  #write(message: unknown): void {
    if (!this.#res.writableEnded) this.#res.write(`${JSON.stringify(message)}\n`);
  }
}
