// One sidecar's config stream: the snapshots pushed to it (NDJSON lines on a long-lived response),
// what it acknowledged or rejected, and its status as `petrel status` shows it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { encodeFrame, encodeSnapshotFrame, type HelloFrame, type PingFrame } from '../api/stream-messages.ts';
import { encodeTapFrame, type TapSpec } from '../api/tap-messages.ts';
import type { Principal } from './auth.ts';
import type { NodeIdentity } from './compiler.ts';

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
  /** The sidecar deregistered: its endpoint is no longer advertised. */
  deregistered: boolean;
  lastSeen: string;
  /** The SPIFFE identity of the certificate the sidecar said it holds (in its last ACK). */
  identity: string | null;
  /** That certificate's notAfter (ISO 8601). */
  certExpires: string | null;
}

/** Sent between snapshots so that both sides notice a dead connection. */
export const HEARTBEAT_MS = 10_000;

export class Subscription {
  readonly id: string;
  readonly node: NodeIdentity;
  readonly address: string;
  readonly name: string;
  /** Who opened the stream: only the same principal may ACK, NACK or deregister for it. */
  readonly principal: Principal;
  readonly #res: ServerResponse;
  /** Sent only on this stream (in the hello): an ACK/NACK or deregister must carry it. */
  readonly #secret = randomBytes(24).toString('base64url');
  /** Drops this sidecar's endpoint from the registry; set once it registered one. */
  #unregister: (() => void) | undefined;
  /** The sidecar said it is going away: its endpoint is gone for good, even if it reconnects. */
  deregistered = false;
  sentVersion: number | null = null;
  sentHash: string | null = null;
  sentAt = 0;
  ackedVersion: number | null = null;
  nack: { version: number; error: string } | null = null;
  lastSeen = Date.now();
  connected = true;
  /** What the sidecar's last ACK/NACK said about its certificate. */
  certificate: { identity: string; notAfter: string | null } | null = null;
  readonly #heartbeat: NodeJS.Timeout;

  constructor(id: string, node: NodeIdentity, address: string, name: string, res: ServerResponse, principal: Principal = { kind: 'local' }) {
    this.id = id;
    this.principal = principal;
    this.node = node;
    this.address = address;
    this.name = name;
    this.#res = res;
    this.#write({ type: 'hello', id, heartbeatMs: HEARTBEAT_MS, secret: this.#secret });
    this.#heartbeat = setInterval(() => this.#write({ type: 'ping' }), HEARTBEAT_MS);
    this.#heartbeat.unref();
    res.once('close', () => {
      this.connected = false;
      clearInterval(this.#heartbeat);
    });
  }

  /** True when `secret` is this stream's secret (constant time). */
  owns(secret: string | undefined): boolean {
    if (secret === undefined) return false;
    const given = Buffer.from(secret);
    const expected = Buffer.from(this.#secret);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /** `unregister` drops the endpoint the sidecar registered; called by deregister(). */
  registered(unregister: () => void): void {
    this.#unregister = unregister;
  }

  /** The sidecar is going away: drop its endpoint now. */
  deregister(): void {
    this.deregistered = true;
    this.#unregister?.();
    this.#unregister = undefined;
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
    if (!this.#res.writableEnded) this.#res.write(encodeSnapshotFrame(version, json));
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
      connected: this.connected, deregistered: this.deregistered, lastSeen: new Date(this.lastSeen).toISOString(),
      identity: this.certificate?.identity ?? null, certExpires: this.certificate?.notAfter ?? null,
    };
  }

  /** A `petrel tap` frame (start, renew, stop); false when the stream is gone. */
  tap(spec: TapSpec): boolean {
    if (!this.connected || this.#res.writableEnded) return false;
    this.#res.write(encodeTapFrame(spec));
    return true;
  }

  close(): void {
    clearInterval(this.#heartbeat);
    this.#res.destroy();
  }

  #write(frame: HelloFrame | PingFrame): void {
    if (!this.#res.writableEnded) this.#res.write(encodeFrame(frame));
  }
}
