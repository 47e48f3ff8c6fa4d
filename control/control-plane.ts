// The control plane: policy sources and the endpoint registry in, one snapshot per sidecar out.
//   publish-subscribe  every sidecar subscribes (GET /v1/subscribe) to the part of the mesh config
//                      that concerns it; a change is debounced (100 ms) and pushed only to sidecars
//                      whose compiled snapshot changed.
//   versioned stream   snapshots carry increasing versions; a sidecar that reconnects says what it
//                      holds (version and content hash) and gets nothing when that is current.
//   request-response   sidecars ACK or NACK each version (POST /v1/ack); GET /v1/status reports them.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { allowAll, sharedSecret, tokenReview, type Authenticator } from './auth.ts';
import { CompiledRound, compileFor, PolicyIndex } from './compiler.ts';
import { ControlMetrics } from './metrics.ts';
import { serveMetrics } from '../sidecar/telemetry/exposition.ts';
import type { PolicySource, SourceState } from './policy.ts';
import { Registry } from './registry.ts';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server as HttpsServer } from 'node:https';
import { CONTROL_SERVICE, type InjectorConfig } from './injection/injection-config.ts';
import type { ServingCertificate } from './webhooks/webhook-certificate.ts';
import { PolicyDirectory } from './sources/policy-directory.ts';
import { Subscription, type SidecarStatus } from './subscription.ts';

export interface ControlPlaneOptions {
  policiesDir: string | undefined;
  /** Watch ResiliencePolicies and EndpointSlices in Kubernetes (kubeconfig: a file, or in-cluster/default). */
  kubernetes?: { kubeconfig: string | undefined } | undefined;
  /** Shared secret sidecars must present as `authorization: Bearer <token>`; undefined: no check. */
  token: string | undefined;
  /** With kubernetes: check sidecars' ServiceAccount tokens with TokenReview instead of a shared secret. */
  tokenReview?: boolean;
  host: string;
  streamPort: number;
  apiPort: number;
  /** Config changes within this window are pushed together. Default 100 ms. */
  debounceMs: number;
  /** A vanished sidecar's endpoint stays registered this long. */
  registrationGraceMs: number;
  /**
   * After a start, sidecars that already hold a config get no push for this long: the registry
   * fills as they reconnect (their reconnect backoff tops out at 5 s), and a push in between would
   * drop the endpoints of sidecars that have not reconnected yet. Default 6 s.
   */
  startupGraceMs: number;
  /** Serve the admission webhooks over HTTPS (the mutating injector and the policy validator). */
  webhook?: WebhookOptions | undefined;
  log?: Logger;
}

export interface WebhookOptions {
  port: number;
  /** tls.crt and tls.key from here (cert-manager, a mounted Secret); else see webhookCertificate(). */
  certDir: string | undefined;
  /** The control plane's own namespace, where the certificate Secret lives. */
  namespace: string;
  injector: InjectorConfig;
}

/** Disconnected sidecars stay in the status table this long. */
const FORGET_AFTER_MS = 60_000;

export class ControlPlane {
  readonly options: ControlPlaneOptions;
  readonly log: Logger;
  readonly registry: Registry;
  readonly metrics: ControlMetrics;
  readonly #sources: PolicySource[] = [];
  readonly #subscriptions = new Map<string, Subscription>();
  /** Versions increase across restarts too: they start from the clock. */
  #generation = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #stream: Server | undefined;
  #api: Server | undefined;
  #webhooks: HttpsServer | undefined;
  #lastErrors = '';
  #auth: Authenticator = allowAll;
  #warmUntil = 0;

  constructor(options: ControlPlaneOptions) {
    this.options = options;
    this.log = options.log ?? pino({ base: { component: 'control' } });
    this.registry = new Registry(options.registrationGraceMs);
    if (options.policiesDir !== undefined) this.#sources.push(new PolicyDirectory(options.policiesDir, options.debounceMs));

    this.metrics = new ControlMetrics(
      () => [...this.#subscriptions.values()].filter((s) => s.connected).length,
      () => this.#policyState().errors.length,
    );
  }

  async start(): Promise<void> {
    if (this.options.tokenReview) this.#auth = await tokenReview(this.options.kubernetes?.kubeconfig);
    else if (this.options.token !== undefined) this.#auth = sharedSecret(this.options.token);
    if (this.options.kubernetes !== undefined) {
      // Loaded only when asked for: the client library is large.
      const { KubernetesSource } = await import('./sources/kubernetes.ts');
      this.#sources.push(new KubernetesSource({ kubeconfig: this.options.kubernetes.kubeconfig, registry: this.registry, log: this.log }));
    }
    for (const source of this.#sources) {
      source.on('change', () => this.#schedule());
      source.on('error', (err: Error) => this.log.error({ err: err.message }, 'policy source error'));
      await source.start();
    }
    this.#reportPolicyErrors();
    this.registry.on('change', () => this.#schedule());
    this.#warmUntil = Date.now() + this.options.startupGraceMs;
    if (this.options.startupGraceMs > 0) setTimeout(() => this.#schedule(), this.options.startupGraceMs).unref();
    this.#stream = createServer({ requestTimeout: 0, keepAliveTimeout: 60_000 }, (req, res) => this.#onStreamRequest(req, res));
    this.#api = createServer((req, res) => this.#onApiRequest(req, res));
    await Promise.all([listen(this.#stream, this.options.host, this.options.streamPort), listen(this.#api, this.options.host, this.options.apiPort)]);
    const webhook = this.options.webhook;
    if (webhook !== undefined) {
      // Loaded only here: node-forge and the injector are not needed without webhooks.
      const { createWebhookServer } = await import('./webhooks/webhook-server.ts');
      this.#webhooks = createWebhookServer({ certificate: await this.#webhookCertificate(webhook), injector: webhook.injector, log: this.log });
      await listen(this.#webhooks, this.options.host, webhook.port);
      this.log.info({ webhooks: this.address('webhook') }, 'admission webhooks listening (HTTPS): POST /inject, POST /validate');
    }
    const policies = this.#policyState().policies.length;
    this.log.info({ stream: this.address('stream'), api: this.address('api'), policies, dir: this.options.policiesDir }, 'control plane listening');
  }

  /**
   * The webhook certificate: from --webhook-cert-dir; in Kubernetes from the Secret the replicas
   * share (created on first start, caBundle patched); locally a fresh self-signed one.
   */
  async #webhookCertificate(webhook: WebhookOptions): Promise<ServingCertificate> {
    if (webhook.certDir !== undefined) {
      return { certPem: await readFile(join(webhook.certDir, 'tls.crt'), 'utf8'), keyPem: await readFile(join(webhook.certDir, 'tls.key'), 'utf8') };
    }
    if (this.options.kubernetes !== undefined) {
      const { loadKubeConfig } = await import('./kube-config.ts');
      const { bootstrapWebhookCertificate, DEFAULT_WEBHOOK_NAMES } = await import('./webhooks/webhook-bootstrap.ts');
      return bootstrapWebhookCertificate(loadKubeConfig(this.options.kubernetes.kubeconfig), { ...DEFAULT_WEBHOOK_NAMES, namespace: webhook.namespace, log: this.log });
    }
    const { generateServingCertificate, serviceDnsNames } = await import('./webhooks/webhook-certificate.ts');
    return generateServingCertificate(serviceDnsNames(CONTROL_SERVICE, webhook.namespace).concat('localhost'), new Date());
  }

  address(which: 'stream' | 'api' | 'webhook'): string {
    const a = (which === 'stream' ? this.#stream : which === 'api' ? this.#api : this.#webhooks)?.address() as AddressInfo | null | undefined;
    return a ? `${a.address}:${a.port}` : '';
  }

  async stop(): Promise<void> {
    for (const source of this.#sources) source.stop();
    if (this.#timer) clearTimeout(this.#timer);
    for (const s of this.#subscriptions.values()) s.close();
    for (const server of [this.#stream, this.#api, this.#webhooks]) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  status(): SidecarStatus[] {
    return [...this.#subscriptions.values()].map((s) => s.status())
      .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service) || a.address.localeCompare(b.address));
  }

  #policyState(): SourceState {
    if (this.#sources.length === 1) return (this.#sources[0] as PolicySource).state();
    const states = this.#sources.map((s) => s.state());
    return { policies: states.flatMap((s) => s.policies), errors: states.flatMap((s) => s.errors) };
  }

  #reportPolicyErrors(): void {
    const { errors } = this.#policyState();
    const text = JSON.stringify(errors);
    if (text === this.#lastErrors) return;
    this.#lastErrors = text;
    for (const e of errors) this.log.error({ origin: e.origin, errors: e.errors }, `policy input rejected; its last good version stays in force:\n  ${e.errors.join('\n  ')}`);
  }

  #schedule(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#reportPolicyErrors();
      this.#pushAll();
    }, this.options.debounceMs);
  }

  /** Compiles every connected sidecar's snapshot and pushes the ones that changed. */
  #pushAll(): void {
    const round = this.#round();
    for (const sub of this.#subscriptions.values()) if (sub.connected) this.#pushTo(sub, round);
  }

  #round(): CompiledRound {
    return new CompiledRound(this.registry.services(), new PolicyIndex(this.#policyState().policies));
  }

  /** `compiled`: the sidecar's snapshot when the caller already built it from this round. */
  #pushTo(sub: Subscription, round: CompiledRound, compiled?: { json: string; hash: string }): void {
    // Warming up after a start: a sidecar that came back holding a config keeps it until the
    // registry has refilled.
    if (sub.heldVersion !== null && Date.now() < this.#warmUntil) return;
    const { json, hash } = compiled ?? compileFor(sub.node, round);
    if (hash === sub.sentHash) {
      // What it holds (possibly since before a restart) is what it should hold.
      sub.confirmHeld();
      return;
    }
    const version = ++this.#generation;
    sub.push(version, hash, json);
    this.metrics.pushes.inc();
    this.log.debug({ sidecar: sub.id, service: sub.node.service, version }, 'pushed');
  }

  #onStreamRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://control');
    this.#auth.check(req).then((ok) => {
      if (!ok) return json(res, 401, { error: 'a valid bearer token is required (--token-file, or a ServiceAccount token with audience "petrel")' });
      if (req.method === 'GET' && url.pathname === '/v1/subscribe') return this.#subscribe(url, res);
      if (req.method === 'POST' && url.pathname === '/v1/ack') return this.#ack(req, res);
      json(res, 404, { error: `no stream endpoint ${req.method} ${url.pathname}` });
    }, () => json(res, 500, { error: 'authentication failed' }));
  }

  #subscribe(url: URL, res: ServerResponse): void {
    const q = url.searchParams;
    const service = q.get('service') ?? '';
    const namespace = q.get('namespace') ?? 'default';
    const address = q.get('address') ?? '';
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(service) || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace)) {
      return json(res, 400, { error: 'service and namespace must be DNS labels' });
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.flushHeaders();
    const sub = new Subscription(randomUUID(), { service, namespace }, address, q.get('name') ?? address, res);
    this.#subscriptions.set(sub.id, sub);
    const release = address === '' ? undefined : this.registry.register(service, namespace, address, sub.name);
    res.once('close', () => {
      release?.();
      this.log.info({ sidecar: sub.id, service, address }, 'sidecar stream closed');
      setTimeout(() => { if (!sub.connected) this.#subscriptions.delete(sub.id); }, FORGET_AFTER_MS).unref();
    });
    // Resume: a sidecar that already holds the current content gets nothing new.
    const round = this.#round();
    const heldVersion = Number(q.get('version'));
    const heldHash = q.get('hash');
    const compiled = compileFor(sub.node, round);
    const hash = compiled.hash;
    if (Number.isInteger(heldVersion) && heldVersion > 0 && heldHash !== null) {
      // It holds a config: current (nothing to send), or to be replaced by the next push. Until
      // then it is STALE; it counts as acknowledged only when the content matches.
      sub.resumed(heldVersion, heldHash, heldHash === hash);
      this.#generation = Math.max(this.#generation, heldVersion);
      if (heldHash !== hash) this.#pushTo(sub, round, compiled);
    } else this.#pushTo(sub, round, compiled);
    this.log.info({ sidecar: sub.id, service, namespace, address, resumed: heldHash === hash }, 'sidecar subscribed');
  }

  #ack(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { body += c; if (body.length > 65_536) req.destroy(); });
    req.on('end', () => {
      let msg: { id?: unknown; version?: unknown; status?: unknown; error?: unknown };
      try {
        msg = JSON.parse(body) as typeof msg;
      } catch {
        return json(res, 400, { error: 'the body must be JSON: {id, version, status: "ACK"|"NACK", error?}' });
      }
      const sub = typeof msg.id === 'string' ? this.#subscriptions.get(msg.id) : undefined;
      if (sub === undefined || typeof msg.version !== 'number' || (msg.status !== 'ACK' && msg.status !== 'NACK')) {
        return json(res, 400, { error: 'unknown subscription, or missing version/status' });
      }
      const seconds = sub.acknowledge(msg.version, msg.status === 'ACK', typeof msg.error === 'string' ? msg.error : undefined);
      if (seconds !== undefined) this.metrics.pushSeconds.observe(seconds);
      if (msg.status === 'NACK') {
        this.metrics.nacks.inc();
        this.log.warn({ sidecar: sub.id, service: sub.node.service, version: msg.version, error: msg.error }, 'sidecar rejected a snapshot');
      }
      res.writeHead(204);
      res.end();
    });
  }

  #onApiRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://control').pathname;
    if (req.method !== 'GET') return json(res, 405, { error: 'GET only' });
    switch (path) {
      case '/v1/status':
        return json(res, 200, { sidecars: this.status(), policies: { count: this.#policyState().policies.length, rejected: this.#policyState().errors } });
      case '/metrics':
        serveMetrics(this.metrics.registry, req, res);
        return;
      case '/ready':
      case '/live':
        res.end('ok\n');
        return;
      default:
        json(res, 404, { error: `no API endpoint ${path}` });
    }
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function listen(server: Server, host: string, port: number): Promise<void> {
  server.listen(port, host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err; })]);
}
