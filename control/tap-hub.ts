// `petrel tap` in the control plane: it relays. A CLI opens GET /v1/tap on the API port (with the
// token, as /v1/status) and keeps the response open; the hub sends a `tap` frame to every connected
// sidecar on its config stream and renews that lease every RENEW_MS; sidecars whose requests match
// upload sampled events (POST /v1/tap on the stream port, authenticated by their stream secret), and
// the hub writes them to the CLI's response as NDJSON lines. The tap ends at --max events, at
// --duration, or when the CLI goes away; a stop frame goes out, and a sidecar that misses it stops
// when its lease runs out (LEASE_MS).
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { TapLine, TapReport, TapSpec } from '../api/tap-messages.ts';
import type { Subscription } from './subscription.ts';

/** A sidecar stops tapping this long after the last renewal. */
export const TAP_LEASE_MS = 5_000;
/** How often the hub renews its taps' leases (and reaches sidecars that connected since). */
export const TAP_RENEW_MS = 1_500;
/** Taps running at once: each costs every sidecar a match per request. */
export const MAX_TAPS = 16;

export interface TapRequest {
  service: string;
  namespace: string;
  explain: boolean;
  /** Events after which the tap ends. */
  max: number;
  durationMs: number;
}

interface Session {
  readonly spec: TapSpec;
  readonly request: TapRequest;
  readonly res: ServerResponse;
  events: number;
  dropped: number;
  readonly timer: NodeJS.Timeout;
}

export class TapHub {
  readonly #subscriptions: () => Iterable<Subscription>;
  readonly #log: Logger;
  readonly #leaseMs: number;
  readonly #sessions = new Map<string, Session>();
  #renew: NodeJS.Timeout | undefined;

  constructor(o: { subscriptions: () => Iterable<Subscription>; log: Logger; leaseMs?: number; renewMs?: number }) {
    this.#subscriptions = o.subscriptions;
    this.#log = o.log;
    this.#leaseMs = o.leaseMs ?? TAP_LEASE_MS;
    this.renewMs = o.renewMs ?? TAP_RENEW_MS;
  }

  readonly renewMs: number;

  get count(): number {
    return this.#sessions.size;
  }

  /** Starts a tap whose lines go to `res` (already answered 200 NDJSON by the caller); false when too many run. */
  open(request: TapRequest, res: ServerResponse): boolean {
    if (this.#sessions.size >= MAX_TAPS) return false;
    const spec: TapSpec = { id: randomUUID(), service: request.service, namespace: request.namespace, explain: request.explain, leaseMs: this.#leaseMs };
    const timer = setTimeout(() => this.#end(spec.id, 'duration'), request.durationMs);
    timer.unref();
    const session: Session = { spec, request, res, events: 0, dropped: 0, timer };
    this.#sessions.set(spec.id, session);
    res.once('close', () => this.#end(spec.id, 'closed'));
    const sidecars = this.#broadcast(spec);
    this.#write(session, { type: 'start', id: spec.id, service: spec.service, namespace: spec.namespace, sidecars, explain: spec.explain, max: request.max, durationMs: request.durationMs });
    this.#log.info({ tap: spec.id, service: spec.service, namespace: spec.namespace, explain: spec.explain, sidecars }, 'tap started');
    if (this.#renew === undefined) {
      this.#renew = setInterval(() => {
        for (const s of this.#sessions.values()) this.#broadcast(s.spec);
      }, this.renewMs);
      this.#renew.unref();
    }
    return true;
  }

  /**
   * A sidecar's upload (its stream secret already checked): each event goes to the taps it names,
   * with the service and namespace of the stream it came on, whatever the sidecar wrote.
   */
  report(report: TapReport, node: { service: string; namespace: string }): void {
    for (const [id, n] of Object.entries(report.dropped)) {
      const s = this.#sessions.get(id);
      if (s !== undefined) s.dropped += n;
    }
    for (const event of report.events) {
      for (const id of event.taps) {
        const s = this.#sessions.get(id);
        if (s === undefined || s.events >= s.request.max) continue;
        s.events++;
        this.#write(s, { type: 'event', event: { ...event, taps: [id], service: node.service, namespace: node.namespace } });
        if (s.events >= s.request.max) this.#end(id, 'max');
      }
    }
  }

  close(): void {
    for (const id of [...this.#sessions.keys()]) this.#end(id, 'closed');
  }

  #end(id: string, reason: 'max' | 'duration' | 'closed'): void {
    const s = this.#sessions.get(id);
    if (s === undefined) return;
    this.#sessions.delete(id);
    clearTimeout(s.timer);
    this.#broadcast({ ...s.spec, leaseMs: 0 });
    if (this.#sessions.size === 0 && this.#renew !== undefined) {
      clearInterval(this.#renew);
      this.#renew = undefined;
    }
    this.#write(s, { type: 'end', reason, events: s.events, dropped: s.dropped });
    if (!s.res.writableEnded) s.res.end();
    this.#log.info({ tap: id, reason, events: s.events, dropped: s.dropped }, 'tap ended');
  }

  /** Sends the frame to every connected sidecar; returns how many. */
  #broadcast(spec: TapSpec): number {
    let n = 0;
    for (const sub of this.#subscriptions()) if (sub.tap(spec)) n++;
    return n;
  }

  #write(s: Session, line: TapLine): void {
    if (!s.res.writableEnded && !s.res.destroyed) s.res.write(`${JSON.stringify(line)}\n`);
  }
}
