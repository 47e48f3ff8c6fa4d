// The sidecar's end of the config stream. It subscribes to the control plane with its identity and
// what it holds, applies each pushed snapshot through the ConfigStore (validation included) and
// answers ACK, or NACK with the errors while keeping its last good config. When the stream breaks it
// reconnects with exponential backoff and full jitter, serving on the last config all along; the
// last good snapshot can be cached on disk so that a restart serves before the control plane answers.
// deregister() tells the control plane this sidecar is going away: its endpoint leaves every other
// sidecar's snapshot now, while this one keeps serving (and keeps its config stream) until it stops.
// Message shapes: api/stream-messages.ts, shared with the control plane.
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { snapshotContentHash } from '../../api/snapshot-hash.ts';
import {
  decodeDeregisterReply, decodeFrame, encodeAck, encodeDeregister, encodeSubscribe, STREAM_PATHS, StreamMessageError,
} from '../../api/stream-messages.ts';
import { encodeStatReport, type StatSummary } from '../../api/stat-summary.ts';
import { encodeTapReport, type TapEvent } from '../../api/tap-messages.ts';
import type { Tap } from '../telemetry/tap.ts';
import { Backoff } from '../policy/backoff.ts';
import type { Random } from '../policy/clock.ts';
import { ConfigRejectedError, type ConfigSource } from './config-store.ts';
import { bearer, controlRequest, type ControlEndpoint } from './control-endpoint.ts';
import { loadSnapshotCache, saveSnapshotCache } from './snapshot-cache.ts';

/** What the client needs of the ConfigStore: the snapshot in force, and a way to apply one. */
export interface SnapshotStore {
  readonly current: { readonly version: number; readonly source: object } | undefined;
  apply(doc: unknown, source: ConfigSource): { readonly version: number };
}

export interface ControlClientOptions {
  /** http://host:15010 */
  url: string;
  token: string | undefined;
  /**
   * Re-read before every (re)connect when set: kubelet rotates projected ServiceAccount tokens, and
   * a token read once at start expires (1 h) while the sidecar lives on. Falls back to `token`.
   */
  tokenFile?: string;
  service: string;
  namespace: string;
  /** The inbound address registered for this service. */
  advertise: string;
  /** The Service port that address serves (`--service-port`); default 80. */
  servicePort?: number | undefined;
  /** PEM roots pinned for an https control URL. */
  ca?: string | undefined;
  /** The service account the sidecar's certificate should name (local credentials); default the service. */
  serviceAccount?: string | undefined;
  /** The certificate in use, reported in every ACK for `petrel status`. */
  certificate?: () => { identity: string; notAfter: number } | undefined;
  name: string;
  cacheFile: string | undefined;
  /** This sidecar's last 30 s for `petrel stat`, sent on the stream every STAT_REPORT_MS. */
  stats?: () => StatSummary;
  /** `petrel tap`: tap frames on the stream start and renew its leases; its events go back on POST /v1/tap. */
  tap?: Tap;
  store: SnapshotStore;
  log: Logger;
  random: Random;
}

/** Reconnect backoff: full jitter from 250 ms up to 5 s (the control plane's startup grace is 6 s). */
const RECONNECT = { baseMs: 250, maxMs: 5_000 };
/** A stream silent for this many heartbeats is considered dead. */
const MISSED_HEARTBEATS = 3;
/** How often the `petrel stat` summary goes to the control plane: fresh enough for a 30 s window, a few KiB each time. */
export const STAT_REPORT_MS = 5_000;

export class ControlClient {
  readonly #o: ControlClientOptions;
  readonly #endpoint: ControlEndpoint;
  readonly #backoff: Backoff;
  #failures = 0;
  #stopped = false;
  #response: IncomingMessage | undefined;
  /** The current stream's subscription id and secret, from its hello. */
  #stream: { id: string; secret: string | undefined } | undefined;
  /** Set by deregister(): the endpoint must not come back on a reconnect. */
  #deregistered = false;
  #watchdog: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #statTimer: NodeJS.Timeout | undefined;
  /** The last summary sent was empty: an idle sidecar sends one empty summary, then nothing. */
  #sentEmpty = false;

  constructor(options: ControlClientOptions) {
    this.#o = options;
    this.#endpoint = { url: options.url, token: options.token, tokenFile: options.tokenFile, ca: options.ca };
    this.#backoff = new Backoff('exponential-jitter', RECONNECT.baseMs, RECONNECT.maxMs, options.random);
  }

  /** Loads the disk cache if there is one, then connects. */
  async start(): Promise<void> {
    if (this.#o.cacheFile !== undefined) await loadSnapshotCache(this.#o.cacheFile, this.#o.store, this.#o.log);
    if (this.#o.tap !== undefined) this.#o.tap.send = (events, dropped) => this.#sendTap(events, dropped);
    this.#connect();
    if (this.#o.stats !== undefined) {
      this.#statTimer = setInterval(() => this.#sendStats(), STAT_REPORT_MS);
      this.#statTimer.unref();
    }
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#statTimer);
    clearTimeout(this.#watchdog);
    clearTimeout(this.#retryTimer);
    this.#response?.destroy();
  }

  #headers(): Record<string, string> {
    return bearer(this.#endpoint, this.#o.log);
  }

  #connect(): void {
    if (this.#stopped) return;
    const o = this.#o;
    const current = o.store.current;
    const url = new URL(STREAM_PATHS.subscribe, o.url);
    url.search = encodeSubscribe({
      service: o.service, namespace: o.namespace, address: o.advertise, name: o.name, register: !this.#deregistered, serviceAccount: o.serviceAccount, servicePort: o.servicePort,
      held: current === undefined ? undefined : { version: current.version, hash: snapshotContentHash(current.source) },
    }).toString();
    this.#stream = undefined;
    const registers = !this.#deregistered;
    const req = controlRequest(this.#endpoint, url, { headers: this.#headers() }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { body += c; });
        res.on('end', () => this.#retry(`control plane answered ${res.statusCode}: ${body.trim()}`));
        return;
      }
      this.#response = res;
      this.#failures = 0;
      o.log.info({ control: o.url }, 'config stream connected');
      this.#read(res, registers);
    });
    req.on('error', (err) => this.#retry(`cannot reach the control plane at ${o.url}: ${err.message}`));
    req.end();
  }

  /** `registers`: the subscription asked to register this sidecar's endpoint. */
  #read(res: IncomingMessage, registers: boolean): void {
    let buffered = '';
    let heartbeatMs = 10_000;
    const armWatchdog = (): void => {
      clearTimeout(this.#watchdog);
      this.#watchdog = setTimeout(() => res.destroy(new Error('the config stream went silent')), heartbeatMs * MISSED_HEARTBEATS);
      this.#watchdog.unref();
    };
    armWatchdog();
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      armWatchdog();
      buffered += chunk;
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() === '') continue;
        let frame;
        try {
          frame = decodeFrame(line);
        } catch (err) {
          this.#o.log.error({ line: line.slice(0, 200), err: (err as StreamMessageError).message }, 'unreadable line on the config stream');
          continue;
        }
        if (frame.type === 'hello') {
          if (this.#response === res) this.#stream = { id: frame.id, secret: frame.secret };
          heartbeatMs = frame.heartbeatMs;
          armWatchdog();
          // deregister() ran while this subscription (which registered) was being set up.
          if (registers && this.#deregistered) void this.#sendDeregister(5_000);
        } else if (frame.type === 'snapshot') this.#apply(frame.snapshot);
        else if (frame.type === 'tap') this.#o.tap?.control(frame.tap);
      }
    });
    const ended = (why: string) => () => {
      clearTimeout(this.#watchdog);
      if (this.#response === res) {
        this.#response = undefined;
        this.#stream = undefined;
      }
      this.#retry(why);
    };
    res.on('end', ended('the control plane closed the config stream'));
    res.on('error', (err) => ended(`config stream error: ${err.message}`)());
  }

  #apply(doc: unknown): void {
    const version = (doc as { version?: unknown } | null)?.version;
    const v = typeof version === 'number' ? version : -1;
    try {
      const compiled = this.#o.store.apply(doc, { kind: 'control', name: `control plane ${this.#o.url}` });
      this.#o.log.info({ version: compiled.version }, 'config applied');
      this.#ack(v, 'ACK');
      if (this.#o.cacheFile !== undefined) void saveSnapshotCache(this.#o.cacheFile, doc, this.#o.log);
    } catch (err) {
      const issues = err instanceof ConfigRejectedError ? err.issues.join('; ') : (err as Error).message;
      this.#o.log.error({ version: v, issues, inForce: this.#o.store.current?.version }, 'snapshot rejected (NACK); the last good config stays in force');
      this.#ack(v, 'NACK', issues);
    }
  }

  #ack(version: number, status: 'ACK' | 'NACK', error?: string): void {
    const stream = this.#stream;
    if (stream === undefined) return; // the stream that carried it is gone; the next one resumes
    const cert = this.#o.certificate?.();
    const body = encodeAck({
      id: stream.id, secret: stream.secret, version, status, error,
      ...(cert === undefined ? {} : { identity: cert.identity, certNotAfter: new Date(cert.notAfter).toISOString() }),
    });
    const req = controlRequest(this.#endpoint, new URL(STREAM_PATHS.ack, this.#o.url), {
      method: 'POST', headers: { ...this.#headers(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => res.resume());
    req.on('error', (err) => this.#o.log.warn({ err: err.message }, 'could not send ACK/NACK'));
    req.end(body);
  }

  /** Best effort: a lost summary is replaced by the next one; the control plane ages out a silent sidecar's. */
  #sendStats(): void {
    const stream = this.#stream;
    const summary = this.#o.stats?.();
    if (stream === undefined || stream.secret === undefined || summary === undefined) return;
    // Endpoints it has called keep it reporting: their breaker states must not age out of `petrel describe`.
    const empty = summary.series.length === 0 && (summary.endpoints?.length ?? 0) === 0;
    if (empty && this.#sentEmpty) return;
    this.#sentEmpty = empty;
    const body = encodeStatReport({ id: stream.id, secret: stream.secret, ...summary });
    const req = controlRequest(this.#endpoint, new URL(STREAM_PATHS.stats, this.#o.url), {
      method: 'POST', headers: { ...this.#headers(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => res.resume());
    req.on('error', (err) => this.#o.log.debug({ err: err.message }, 'could not send the stat summary'));
    req.end(body);
  }

  /**
   * A batch of tap events, authenticated by the stream secret: only this subscription's sidecar can
   * upload for it. Best effort: a lost batch is lost (the tap is a sample anyway).
   */
  #sendTap(events: TapEvent[], dropped: Record<string, number>): void {
    const stream = this.#stream;
    if (stream === undefined || stream.secret === undefined) return;
    const body = encodeTapReport({ id: stream.id, secret: stream.secret, events, dropped });
    const req = controlRequest(this.#endpoint, new URL(STREAM_PATHS.tap, this.#o.url), {
      method: 'POST', headers: { ...this.#headers(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, (res) => res.resume());
    req.on('error', (err) => this.#o.log.debug({ err: err.message }, 'could not send tap events'));
    req.end(body);
  }

  /** Re-sends the ACK of the version in force, so that `petrel status` shows a renewed certificate. */
  reportCertificate(): void {
    const current = this.#o.store.current;
    if (current !== undefined) this.#ack(current.version, 'ACK');
  }

  /**
   * Tells the control plane this sidecar is going away: its endpoint leaves the other sidecars'
   * snapshots now (no registration grace), and later reconnects do not register it again. The
   * stream stays open, so this sidecar keeps its config while it drains. Resolves when the control
   * plane confirmed, or after `timeoutMs`; never rejects.
   */
  deregister(timeoutMs: number): Promise<void> {
    this.#deregistered = true;
    return this.#sendDeregister(timeoutMs);
  }

  #sendDeregister(timeoutMs: number): Promise<void> {
    const log = this.#o.log;
    const stream = this.#stream;
    if (stream === undefined || stream.secret === undefined) {
      // Not subscribed (or to a control plane without stream secrets): the endpoint goes after the
      // control plane's registration grace, and no reconnect will register it again.
      log.warn({ control: this.#o.url }, 'deregister: no config stream to deregister on; the control plane drops the endpoint after its registration grace');
      return Promise.resolve();
    }
    const body = encodeDeregister({ id: stream.id, secret: stream.secret });
    return new Promise((resolve) => {
      let done = false;
      const finish = (ok: boolean, message: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        req.destroy();
        if (ok) log.info({ control: this.#o.url }, message);
        else log.warn({ control: this.#o.url }, `deregister: ${message}`);
        resolve();
      };
      const timer = setTimeout(() => finish(false, `no answer from the control plane within ${timeoutMs} ms`), timeoutMs);
      const req = controlRequest(this.#endpoint, new URL(STREAM_PATHS.deregister, this.#o.url), {
        method: 'POST', headers: { ...this.#headers(), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => { if (text.length < 4096) text += c; });
        res.on('end', () => {
          if (res.statusCode !== 200) return finish(false, `the control plane answered ${res.statusCode}: ${text.trim()}`);
          try {
            const reply = decodeDeregisterReply(text);
            finish(true, `deregistered: the control plane dropped ${reply.deregistered ?? 'no endpoint'} and pushed the others new snapshots`);
          } catch (err) {
            finish(false, (err as StreamMessageError).message);
          }
        });
        res.on('error', (err) => finish(false, err.message));
      });
      req.on('error', (err) => finish(false, `cannot reach the control plane at ${this.#o.url}: ${err.message}`));
      req.end(body);
    });
  }

  #retry(why: string): void {
    if (this.#stopped || this.#retryTimer !== undefined) return;
    this.#failures++;
    const delay = this.#backoff.delay(this.#failures);
    this.#o.log.warn({ why, retryInMs: delay, serving: this.#o.store.current?.version ?? null }, 'config stream down; serving the last config');
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#connect();
    }, delay);
  }
}
