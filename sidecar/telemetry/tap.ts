// `petrel tap` in the sidecar: the taps the control plane asked for (each a lease that it renews on
// the config stream), a sample of the matching requests as they finish, and the uploads of those
// events (POST /v1/tap with the stream secret, control-client.ts).
//
// Cost while nobody taps: `active` is false, and the request path reads that one boolean where a
// request is routed (pipeline/*.ts); the place where a request finishes reads `exchange.tap`, which
// only a sampled request has. Nothing else runs: no timer, no buffer.
//
// While tapping, the sample is bounded: at most `ratePerSecond` requests a second (a token bucket
// on the injected clock) and at most `maxBuffered` events waiting for upload; the rest are counted
// as dropped per tap and reported. A tap ends when its lease runs out (the control plane stops
// renewing it: the CLI left, or its --duration or --max was reached) or on a stop frame.
import type { TapEvent, TapSpec } from '../../api/tap-messages.ts';
import { MAX_TAP_EVENTS_PER_REPORT, pathWithoutQuery } from '../../api/tap-messages.ts';
import type { Clock, TimerHandle } from '../policy/clock.ts';
import { TokenBucket } from '../policy/token-bucket.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { Explanation } from './explain.ts';

export interface TapOptions {
  clock: Clock;
  /** This sidecar's service: requests through it are to it (inbound) or from it (outbound). */
  self: { readonly service: string; readonly namespace: string };
  /** Sampled requests per second, all taps together. Default 100. */
  ratePerSecond?: number;
  /** Events waiting for upload; past it, events are dropped and counted. Default 200. */
  maxBuffered?: number;
  /** How often events are uploaded and leases checked. Default 250 ms. */
  flushMs?: number;
}

/** Uploads a batch; undefined until the config stream is up. */
export type TapSender = (events: TapEvent[], dropped: Record<string, number>) => void;

interface Session {
  readonly spec: TapSpec;
  expiresAt: number;
}

export class Tap {
  /** The one check on the request path: true while at least one tap holds a lease. */
  active = false;
  readonly #o: Required<Omit<TapOptions, 'self' | 'clock'>>;
  readonly #clock: Clock;
  readonly #self: TapOptions['self'];
  readonly #sessions = new Map<string, Session>();
  readonly #bucket: TokenBucket;
  #buffer: TapEvent[] = [];
  #dropped = new Map<string, number>();
  #timer: TimerHandle | undefined;
  send: TapSender | undefined;

  constructor(options: TapOptions) {
    this.#o = { ratePerSecond: options.ratePerSecond ?? 100, maxBuffered: options.maxBuffered ?? 200, flushMs: options.flushMs ?? 250 };
    this.#clock = options.clock;
    this.#self = options.self;
    this.#bucket = new TokenBucket(this.#o.ratePerSecond, this.#o.ratePerSecond, this.#clock);
  }

  /** A tap frame from the control plane: start or renew a lease, or stop (leaseMs 0). */
  control(spec: TapSpec): void {
    if (spec.leaseMs <= 0) {
      this.#sessions.delete(spec.id);
      this.#update();
      return;
    }
    const expiresAt = this.#clock.now() + spec.leaseMs;
    const session = this.#sessions.get(spec.id);
    if (session !== undefined && session.spec.service === spec.service && session.spec.namespace === spec.namespace && session.spec.explain === spec.explain) session.expiresAt = expiresAt;
    else this.#sessions.set(spec.id, { spec, expiresAt });
    this.#update();
  }

  /** Tap ids currently holding a lease. */
  sessions(): string[] {
    return [...this.#sessions.keys()];
  }

  /**
   * A request was routed (called only while `active`): to `service` (outbound: the destination;
   * inbound: this sidecar's own). A request a tap matches is sampled when the rate allows, and
   * gets an explanation recorder when a tap wants one.
   */
  begin(exchange: Exchange, direction: 'inbound' | 'outbound', service: string, namespace: string): void {
    let taps: string[] | undefined;
    let explain = false;
    const self = this.#self;
    for (const [id, s] of this.#sessions) {
      const spec = s.spec;
      const matches = (spec.service === service && spec.namespace === namespace)
        || (direction === 'outbound' && spec.service === self.service && spec.namespace === self.namespace);
      if (!matches) continue;
      (taps ??= []).push(id);
      if (spec.explain) explain = true;
    }
    if (taps === undefined) return;
    if (!this.#bucket.tryTake()) {
      for (const id of taps) this.#drop(id);
      return;
    }
    exchange.tap = taps;
    if (explain) exchange.explain ??= new Explanation();
  }

  /** A sampled request finished (called only when `exchange.tap` is set): its event joins the next upload. */
  finish(exchange: Exchange, direction: 'inbound' | 'outbound', status: number, seconds: number): void {
    const taps = exchange.tap as string[];
    if (this.#buffer.length >= this.#o.maxBuffered) {
      for (const id of taps) this.#drop(id);
      return;
    }
    const labels = exchange.metrics?.labels;
    const event: TapEvent = {
      time: new Date().toISOString(), taps, direction, service: this.#self.service, namespace: this.#self.namespace,
      peer: labels?.peer_service ?? '', method: exchange.method, authority: exchange.authority, path: pathWithoutQuery(exchange.path),
      route: labels?.route ?? '', status, grpc_status: exchange.grpcStatusLabel, flags: exchange.flags, attempts: exchange.attempts,
      upstream: exchange.upstream, duration_ms: Math.round(seconds * 1e6) / 1e3,
    };
    const explain = exchange.explain;
    if (explain !== undefined && taps.some((id) => this.#sessions.get(id)?.spec.explain === true)) {
      event.explanation = explain.words();
      event.explain = explain.entries;
    }
    this.#buffer.push(event);
    if (this.#timer === undefined) this.#update();
  }

  /** Expires leases and uploads what is buffered; runs every flushMs while active (and once after). */
  tick(): void {
    this.#timer = undefined;
    const now = this.#clock.now();
    for (const [id, s] of this.#sessions) if (s.expiresAt <= now) this.#sessions.delete(id);
    this.flush();
    this.#update();
  }

  /** Hands buffered events and drop counts to the sender, in batches a report can carry. */
  flush(): void {
    if (this.#buffer.length === 0 && this.#dropped.size === 0) return;
    const events = this.#buffer;
    const dropped = Object.fromEntries(this.#dropped);
    this.#buffer = [];
    this.#dropped = new Map();
    const send = this.send;
    if (send === undefined) return;
    for (let i = 0; i < events.length || i === 0; i += MAX_TAP_EVENTS_PER_REPORT) {
      send(events.slice(i, i + MAX_TAP_EVENTS_PER_REPORT), i === 0 ? dropped : {});
    }
  }

  /** What is waiting for upload (tests). */
  buffered(): readonly TapEvent[] {
    return this.#buffer;
  }

  dropped(id: string): number {
    return this.#dropped.get(id) ?? 0;
  }

  stop(): void {
    this.#sessions.clear();
    this.#update();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #drop(id: string): void {
    this.#dropped.set(id, (this.#dropped.get(id) ?? 0) + 1);
  }

  /** active follows the sessions; the timer runs while there is something to expire or upload. */
  #update(): void {
    this.active = this.#sessions.size > 0;
    const pending = this.active || this.#buffer.length > 0 || this.#dropped.size > 0;
    if (pending && this.#timer === undefined) this.#timer = this.#clock.setTimeout(tickTap, this.#o.flushMs, this);
  }
}

function tickTap(tap: Tap): void {
  tap.tick();
}
