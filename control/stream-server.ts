// The config stream's server side (port 15010). Every request needs the sidecar credential
// (shared token or ServiceAccount token). Then:
//   GET  /v1/subscribe   opens a sidecar's stream: hello (with its id and stream secret), snapshots, pings
//   POST /v1/ack         ACK/NACK of a version; counts only with the stream secret of that subscription
//   POST /v1/deregister  the sidecar is going away: its endpoint leaves the registry now and the
//                        others get new snapshots before the answer
// Message shapes live in api/stream-messages.ts, shared with the sidecar.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import {
  decodeAck, decodeDeregister, decodeSubscribe, STREAM_PATHS, StreamMessageError,
  type DeregisterReply, type SubscribeRequest,
} from '../api/stream-messages.ts';
import type { Authenticator } from './auth.ts';
import { json, readBody } from './http-util.ts';
import type { ControlMetrics } from './metrics.ts';
import type { PushScheduler } from './push-scheduler.ts';
import type { Registry } from './registry.ts';
import { Subscription, type SidecarStatus } from './subscription.ts';

/** Disconnected sidecars stay in the status table this long. */
const FORGET_AFTER_MS = 60_000;
/** ACK/NACK and deregister bodies are small; a NACK's error text is cut to 4 KiB anyway. */
const MAX_BODY_BYTES = 65_536;

export interface StreamServerOptions {
  auth: Authenticator;
  registry: Registry;
  scheduler: PushScheduler;
  metrics: ControlMetrics;
  log: Logger;
}

export class StreamServer {
  readonly #o: StreamServerOptions;
  readonly #subscriptions = new Map<string, Subscription>();

  constructor(options: StreamServerOptions) {
    this.#o = options;
  }

  subscriptions(): IterableIterator<Subscription> {
    return this.#subscriptions.values();
  }

  connectedCount(): number {
    let n = 0;
    for (const s of this.#subscriptions.values()) if (s.connected) n++;
    return n;
  }

  status(): SidecarStatus[] {
    return [...this.#subscriptions.values()].map((s) => s.status())
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service) || a.address.localeCompare(b.address));
  }

  close(): void {
    for (const s of this.#subscriptions.values()) s.close();
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://control');
    this.#o.auth.check(req).then((ok) => {
      if (!ok) return json(res, 401, { error: 'a valid bearer token is required (--token-file, or a ServiceAccount token with audience "petrel")' });
      const route = `${req.method} ${url.pathname}`;
      if (route === `GET ${STREAM_PATHS.subscribe}`) return this.#subscribe(url, res);
      if (route === `POST ${STREAM_PATHS.ack}`) return void this.#ack(req, res);
      if (route === `POST ${STREAM_PATHS.deregister}`) return void this.#deregister(req, res);
      json(res, 404, { error: `no stream endpoint ${req.method} ${url.pathname}` });
    }, () => json(res, 500, { error: 'authentication failed' }));
  }

  #subscribe(url: URL, res: ServerResponse): void {
    let request: SubscribeRequest;
    try {
      request = decodeSubscribe(url.searchParams);
    } catch (err) {
      return json(res, 400, { error: (err as StreamMessageError).message });
    }
    const { service, namespace, address } = request;
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.flushHeaders();
    const sub = new Subscription(randomUUID(), { service, namespace }, address, request.name, res);
    this.#subscriptions.set(sub.id, sub);
    const release = address === '' || !request.register ? undefined : this.#o.registry.register(service, namespace, address, sub.name);
    if (release !== undefined) sub.registered(() => release(true));
    else if (!request.register) sub.deregistered = true;
    res.once('close', () => {
      release?.();
      this.#o.log.info({ sidecar: sub.id, service, address }, 'sidecar stream closed');
      setTimeout(() => { if (!sub.connected) this.#subscriptions.delete(sub.id); }, FORGET_AFTER_MS).unref();
    });
    this.#o.scheduler.subscribed(sub, request.held);
    this.#o.log.info({ sidecar: sub.id, service, namespace, address, registered: release !== undefined, resumed: request.held !== undefined && sub.ackedVersion === request.held.version }, 'sidecar subscribed');
  }

  /** The subscription a message names, if the message carries that stream's secret; else answers 403/404. */
  #owned(res: ServerResponse, id: string, secret: string | undefined, what: string): Subscription | undefined {
    const sub = this.#subscriptions.get(id);
    if (sub === undefined) {
      json(res, 404, { error: `${what}: no subscription ${id}` });
      return undefined;
    }
    if (!sub.owns(secret)) {
      this.#o.log.warn({ sidecar: id, service: sub.node.service }, `${what} refused: it does not carry the stream secret of that subscription`);
      json(res, 403, { error: `${what}: the stream secret does not match subscription ${id}; only its own stream may answer for it` });
      return undefined;
    }
    return sub;
  }

  async #ack(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const msg = await readMessage(req, res, decodeAck);
    if (msg === undefined) return;
    const sub = this.#owned(res, msg.id, msg.secret, msg.status);
    if (sub === undefined) return;
    const seconds = sub.acknowledge(msg.version, msg.status === 'ACK', msg.error);
    if (seconds !== undefined) this.#o.metrics.pushSeconds.observe(seconds);
    if (msg.status === 'NACK') {
      this.#o.metrics.nacks.inc();
      this.#o.log.warn({ sidecar: sub.id, service: sub.node.service, version: msg.version, error: msg.error }, 'sidecar rejected a snapshot');
    }
    res.writeHead(204);
    res.end();
  }

  async #deregister(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const msg = await readMessage(req, res, decodeDeregister);
    if (msg === undefined) return;
    const sub = this.#owned(res, msg.id, msg.secret, 'deregister');
    if (sub === undefined) return;
    const address = sub.deregistered ? null : sub.address || null;
    sub.deregister();
    // The registry changed: push the new endpoints to everyone now, not after the debounce.
    this.#o.scheduler.flush();
    this.#o.log.info({ sidecar: sub.id, service: sub.node.service, address: sub.address }, 'sidecar deregistered; its endpoint is dropped');
    const reply: DeregisterReply = { deregistered: address };
    json(res, 200, reply);
  }
}

/** Reads a bounded body and decodes it; a malformed one is answered 400 naming the field. */
async function readMessage<T>(req: IncomingMessage, res: ServerResponse, decode: (body: string) => T): Promise<T | undefined> {
  const body = await readBody(req, res, MAX_BODY_BYTES);
  if (body === undefined) return undefined;
  try {
    return decode(body);
  } catch (err) {
    json(res, 400, { error: (err as StreamMessageError).message });
    return undefined;
  }
}
