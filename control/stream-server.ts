// The config stream's server side (port 15010). Every request needs the sidecar credential
// (shared token or ServiceAccount token). Then:
//   GET  /v1/subscribe   opens a sidecar's stream: hello (with its id and stream secret), snapshots, pings
//   POST /v1/ack         ACK/NACK of a version; counts only with the stream secret of that subscription
//   POST /v1/deregister  the sidecar is going away: its endpoint leaves the registry now and the
//                        others get new snapshots before the answer
//   POST /v1/certificate a workload certificate for a CSR (identity/certificate-endpoint.ts)
//   POST /v1/stats       the sidecar's last 30 s for `petrel stat` (stat-store.ts), with the stream secret
//   POST /v1/tap         sampled requests for `petrel tap` (tap-hub.ts), with the stream secret
// The credential's principal is remembered with the subscription: an ACK/NACK or deregister counts
// only from the same principal (and with the stream secret), so one workload's token cannot answer
// for another's stream.
// Message shapes live in api/stream-messages.ts, shared with the sidecar.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import {
  decodeAck, decodeDeregister, decodeSubscribe, STREAM_PATHS, StreamMessageError,
  type DeregisterReply, type SubscribeRequest,
} from '../api/stream-messages.ts';
import { decodeStatReport } from '../api/stat-summary.ts';
import { decodeTapReport } from '../api/tap-messages.ts';
import { formatSpiffe } from '../sidecar/identity/spiffe.ts';
import { describePrincipal, samePrincipal, type Authenticator, type Principal } from './auth.ts';
import { CERTIFICATE_PATH, type CertificateEndpoint } from './identity/certificate-endpoint.ts';
import { json, readBody } from './http-util.ts';
import type { ControlMetrics } from './metrics.ts';
import type { PushScheduler } from './push-scheduler.ts';
import type { Registry } from './registry.ts';
import type { StatStore } from './stat-store.ts';
import type { TapHub } from './tap-hub.ts';
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
  /** Identity on: the CA's endpoint, and the trust domain registered endpoints' identities are in. */
  identity?: { certificates: CertificateEndpoint; trustDomain: string } | undefined;
  /** Where sidecars' `petrel stat` summaries go; undefined: POST /v1/stats answers 404. */
  stats?: StatStore | undefined;
  /** Where sidecars' `petrel tap` events go; undefined: POST /v1/tap answers 404. */
  taps?: TapHub | undefined;
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
    const route = `${req.method} ${url.pathname}`;
    this.#o.auth.authenticate(req).then((principal) => {
      if (principal === undefined) {
        if (route === `POST ${CERTIFICATE_PATH}`) this.#o.metrics.certificateRejections.inc({ reason: 'unauthenticated' });
        return json(res, 401, { error: 'a valid bearer token is required (--token-file, or a ServiceAccount token with audience "petrel")' });
      }
      if (route === `GET ${STREAM_PATHS.subscribe}`) return this.#subscribe(url, res, principal);
      if (route === `POST ${STREAM_PATHS.ack}`) return void this.#ack(req, res, principal);
      if (route === `POST ${STREAM_PATHS.deregister}`) return void this.#deregister(req, res, principal);
      if (route === `POST ${STREAM_PATHS.stats}` && this.#o.stats !== undefined) return void this.#stats(req, res, principal, this.#o.stats);
      if (route === `POST ${STREAM_PATHS.tap}` && this.#o.taps !== undefined) return void this.#tap(req, res, principal, this.#o.taps);
      if (route === `POST ${CERTIFICATE_PATH}`) {
        if (this.#o.identity === undefined) {
          this.#o.metrics.certificateRejections.inc({ reason: 'identity_off' });
          return json(res, 404, { error: `${CERTIFICATE_PATH}: this control plane issues no certificates (it runs with --no-identity)` });
        }
        return void this.#o.identity.certificates.handle(req, res, principal).catch((err: Error) => {
          this.#o.log.error({ err: err.message }, 'certificate issuance failed');
          json(res, 500, { error: `${CERTIFICATE_PATH}: issuance failed: ${err.message}` });
        });
      }
      json(res, 404, { error: `no stream endpoint ${req.method} ${url.pathname}` });
    }, () => json(res, 500, { error: 'authentication failed' }));
  }

  #subscribe(url: URL, res: ServerResponse, principal: Principal): void {
    let request: SubscribeRequest;
    try {
      request = decodeSubscribe(url.searchParams);
    } catch (err) {
      return json(res, 400, { error: (err as StreamMessageError).message });
    }
    const { service, namespace, address } = request;
    // A ServiceAccount token speaks for its own namespace only: it cannot register endpoints elsewhere.
    if (principal.kind === 'service-account' && principal.namespace !== namespace) {
      return json(res, 403, { error: `subscribe: the credential is ${describePrincipal(principal)}; it cannot subscribe in namespace ${namespace}` });
    }
    const identity = this.#identityOf(principal, namespace, request.serviceAccount ?? service);
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.flushHeaders();
    const sub = new Subscription(randomUUID(), { service, namespace }, address, request.name, res, principal);
    this.#subscriptions.set(sub.id, sub);
    // A workload with a ServiceAccount token (Kubernetes) registers nothing: EndpointSlices say which
    // pods back a service. Otherwise any pod could list its own address under another service's name
    // and, presenting its own (listed) identity, pass the callers' mTLS check. Locally the shared
    // secret is the trust root, and registration is how endpoints are known.
    const registers = request.register && address !== '' && principal.kind !== 'service-account';
    const release = registers ? this.#o.registry.register(service, namespace, address, sub.name, identity, request.servicePort) : undefined;
    if (release !== undefined) sub.registered(() => release(true));
    else if (!request.register) sub.deregistered = true;
    res.once('close', () => {
      release?.();
      this.#o.stats?.forget(sub.id);
      this.#o.log.info({ sidecar: sub.id, service, address }, 'sidecar stream closed');
      setTimeout(() => { if (!sub.connected) this.#subscriptions.delete(sub.id); }, FORGET_AFTER_MS).unref();
    });
    this.#o.scheduler.subscribed(sub, request.held);
    this.#o.log.info({ sidecar: sub.id, service, namespace, address, registered: release !== undefined, resumed: request.held !== undefined && sub.ackedVersion === request.held.version }, 'sidecar subscribed');
  }

  /** The identity a registered endpoint presents: the token's, or locally what the sidecar says; none with identity off. */
  #identityOf(principal: Principal, namespace: string, serviceAccount: string): string | undefined {
    if (this.#o.identity === undefined) return undefined;
    const td = this.#o.identity.trustDomain;
    return principal.kind === 'service-account' ? formatSpiffe(td, principal.namespace, principal.serviceAccount) : formatSpiffe(td, namespace, serviceAccount);
  }

  /** The subscription a message names, if the message carries that stream's secret and comes from its principal; else answers 403/404. */
  #owned(res: ServerResponse, id: string, secret: string | undefined, what: string, principal: Principal): Subscription | undefined {
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
    if (!samePrincipal(sub.principal, principal)) {
      this.#o.log.warn({ sidecar: id, service: sub.node.service, caller: describePrincipal(principal) }, `${what} refused: it comes from another principal than the subscription's`);
      json(res, 403, { error: `${what}: subscription ${id} belongs to ${describePrincipal(sub.principal)}, not ${describePrincipal(principal)}` });
      return undefined;
    }
    return sub;
  }

  async #ack(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
    const msg = await readMessage(req, res, decodeAck);
    if (msg === undefined) return;
    const sub = this.#owned(res, msg.id, msg.secret, msg.status, principal);
    if (sub === undefined) return;
    if (msg.identity !== undefined) sub.certificate = { identity: msg.identity, notAfter: msg.certNotAfter ?? null };
    const seconds = sub.acknowledge(msg.version, msg.status === 'ACK', msg.error);
    if (seconds !== undefined) this.#o.metrics.pushSeconds.observe(seconds);
    if (msg.status === 'NACK') {
      this.#o.metrics.nacks.inc();
      this.#o.log.warn({ sidecar: sub.id, service: sub.node.service, version: msg.version, error: msg.error }, 'sidecar rejected a snapshot');
    }
    res.writeHead(204);
    res.end();
  }

  /**
   * A report a sidecar posts about itself (stats, tap events): it counts only from the stream it
   * belongs to, its secret and its principal, and only while that stream is connected.
   */
  async #report<M extends { id: string; secret?: string | undefined }>(
    req: IncomingMessage, res: ServerResponse, principal: Principal, what: string, decode: (body: string) => M, take: (sub: Subscription, msg: M) => void,
  ): Promise<void> {
    const msg = await readMessage(req, res, decode);
    if (msg === undefined) return;
    const sub = this.#owned(res, msg.id, msg.secret, what, principal);
    if (sub === undefined) return;
    if (sub.connected) take(sub, msg);
    res.writeHead(204);
    res.end();
  }

  #stats(req: IncomingMessage, res: ServerResponse, principal: Principal, store: StatStore): Promise<void> {
    return this.#report(req, res, principal, 'stats', decodeStatReport, (sub, msg) => {
      const summary = { windowSeconds: msg.windowSeconds, series: msg.series, ...(msg.endpoints === undefined ? {} : { endpoints: msg.endpoints }) };
      store.report(sub.id, sub.node.namespace, summary, `${sub.name} (${sub.node.service}.${sub.node.namespace})`);
    });
  }

  #tap(req: IncomingMessage, res: ServerResponse, principal: Principal, taps: TapHub): Promise<void> {
    return this.#report(req, res, principal, 'tap', decodeTapReport, (sub, msg) => taps.report(msg, sub.node));
  }

  async #deregister(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
    const msg = await readMessage(req, res, decodeDeregister);
    if (msg === undefined) return;
    const sub = this.#owned(res, msg.id, msg.secret, 'deregister', principal);
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
