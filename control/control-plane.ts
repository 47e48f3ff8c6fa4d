// The control plane, wired: policy sources and the endpoint registry in, one snapshot per sidecar out.
//   publish-subscribe  every sidecar subscribes to the part of the mesh config that concerns it
//                      (stream-server.ts); a change is debounced and pushed only to sidecars whose
//                      compiled snapshot changed (push-scheduler.ts).
//   versioned stream   snapshots carry increasing versions; a sidecar that reconnects says what it
//                      holds (version and content hash) and gets nothing when that is current.
//   request-response   sidecars ACK or NACK each version; GET /v1/status reports them (api-server.ts).
//   identity           the mesh CA (identity/): POST /v1/certificate on the stream port, the trust
//                      bundle in every snapshot, a rotation pushed like any other change.
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { apiHandler, type CheckResult } from './api-server.ts';
import { PETREL_VERSION } from '../api/version.ts';
import type { IdentitySpec } from '../api/types.ts';
import { DEFAULT_TRUST_DOMAIN } from '../sidecar/identity/spiffe.ts';
import { allowAll, sharedSecret, tokenReview, type Authenticator } from './auth.ts';
import { CertificateAuthority, DEFAULT_CERT_TTL_MS } from './identity/certificate-authority.ts';
import { CertificateEndpoint } from './identity/certificate-endpoint.ts';
import { IssuanceRateLimit } from './identity/issuance-rate-limit.ts';
import { obtainIssuer } from './identity/issuer-source.ts';
import { ServingCertificateRenewer, streamDnsNames } from './identity/serving-certificate.ts';
import { listen } from './http-util.ts';
import { CONTROL_SERVICE, type InjectorConfig } from './injection/injection-config.ts';
import { ControlMetrics } from './metrics.ts';
import type { PolicySource, SourceState } from './policy.ts';
import { PushScheduler } from './push-scheduler.ts';
import { Registry } from './registry.ts';
import { StatStore } from './stat-store.ts';
import { describePod, describeService, NotFound } from './describe.ts';
import { buildTopology } from './topology.ts';
import { WebAssets } from './web-assets.ts';
import { PolicyDirectory } from './sources/policy-directory.ts';
import { StreamServer } from './stream-server.ts';
import { TapHub } from './tap-hub.ts';
import type { SidecarStatus } from './subscription.ts';
import type { ServingCertificate } from './webhooks/webhook-certificate.ts';

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
  /** Issue workload certificates and put the trust bundle in snapshots. Default true (--no-identity: false). */
  identity?: boolean | undefined;
  /** Workload certificate lifetime (--cert-ttl). Default 24h. */
  certTtlMs?: number | undefined;
  /** The issuer's ca.crt + ca.key (or cert-manager's tls.crt + tls.key); takes precedence over the Kubernetes Secret. */
  caDir?: string | undefined;
  /** --trust-domain; default cluster.local. */
  trustDomain?: string | undefined;
  /** The control plane's own namespace (the issuer Secret, the serving certificate's names). Default: the webhook's, else petrel-system. */
  namespace?: string | undefined;
  /** Serve the stream port over HTTPS with a certificate from the mesh issuer. Default: on with kubernetes and identity. */
  streamTls?: boolean | undefined;
  /** Wall-clock milliseconds for the CA and its rate limit; injected by tests. */
  now?: (() => number) | undefined;
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

export class ControlPlane {
  readonly options: ControlPlaneOptions;
  readonly log: Logger;
  readonly registry: Registry;
  readonly metrics: ControlMetrics;
  readonly #sources: PolicySource[] = [];
  readonly #scheduler: PushScheduler;
  #streams: StreamServer | undefined;
  #stream: Server | HttpsServer | undefined;
  /** The mesh CA: roots() for the injector, rotate(). Undefined before start() and with identity off. */
  identity: CertificateAuthority | undefined;
  #servingRenewer: ServingCertificateRenewer | undefined;
  #api: Server | undefined;
  #webhooks: HttpsServer | undefined;
  /** The certificate the webhooks serve, for `petrel check`. */
  #webhookCert: ServingCertificate | undefined;
  #lastErrors = '';
  /** Sidecars' `petrel stat` summaries. */
  readonly stats = new StatStore();
  /** `petrel tap` sessions, relayed between the API port and the sidecars' streams. */
  readonly taps: TapHub;

  constructor(options: ControlPlaneOptions) {
    this.options = options;
    this.log = options.log ?? pino({ base: { component: 'control' } });
    this.registry = new Registry(options.registrationGraceMs);
    if (options.policiesDir !== undefined) this.#sources.push(new PolicyDirectory(options.policiesDir, { debounceMs: options.debounceMs }));
    this.taps = new TapHub({ subscriptions: () => this.#streams?.subscriptions() ?? [], log: this.log });
    this.metrics = new ControlMetrics(() => this.#streams?.connectedCount() ?? 0, () => this.#policyState().errors.length);
    this.#scheduler = new PushScheduler({
      debounceMs: options.debounceMs, startupGraceMs: options.startupGraceMs,
      subscriptions: () => this.#streams?.subscriptions() ?? [],
      services: () => this.registry.services(),
      policies: () => this.#policyState().policies,
      identity: () => this.#bundle(),
      metrics: this.metrics, log: this.log,
      beforeRound: () => this.#reportPolicyErrors(),
    });
  }

  async start(): Promise<void> {
    let auth: Authenticator = allowAll;
    if (this.options.tokenReview) auth = await tokenReview(this.options.kubernetes?.kubeconfig);
    else if (this.options.token !== undefined) auth = sharedSecret(this.options.token);
    if (this.options.kubernetes !== undefined) {
      // Loaded only when asked for: the client library is large.
      const { KubernetesSource } = await import('./sources/kubernetes.ts');
      this.#sources.push(new KubernetesSource({
        kubeconfig: this.options.kubernetes.kubeconfig, registry: this.registry, log: this.log, trustDomain: this.options.trustDomain ?? DEFAULT_TRUST_DOMAIN,
      }));
    }
    for (const source of this.#sources) {
      source.on('change', () => this.#scheduler.schedule());
      source.on('error', (err: Error) => this.log.error({ err: err.message }, 'policy source error'));
      await source.start();
    }
    this.#reportPolicyErrors();
    this.registry.on('change', () => this.#scheduler.schedule());
    const identity = this.options.identity === false ? undefined : await this.#startIdentity();
    this.#scheduler.start();
    const streams = new StreamServer({
      auth, registry: this.registry, scheduler: this.#scheduler, metrics: this.metrics, log: this.log, stats: this.stats, taps: this.taps,
      identity: identity === undefined ? undefined : {
        trustDomain: identity.trustDomain,
        certificates: new CertificateEndpoint({ ca: identity, rateLimit: new IssuanceRateLimit(this.options.now), metrics: this.metrics, log: this.log }),
      },
    });
    this.#streams = streams;
    const serverOptions = { requestTimeout: 0, keepAliveTimeout: 60_000 };
    const streamTls = identity !== undefined && (this.options.streamTls ?? this.options.kubernetes !== undefined);
    if (streamTls && identity !== undefined) {
      // In a cluster the stream carries tokens, snapshots and certificates: TLS, with a certificate
      // the injected mesh root verifies. Locally, plaintext on loopback is the contract.
      const namespace = this.#namespace();
      this.#servingRenewer = new ServingCertificateRenewer(identity, streamDnsNames(CONTROL_SERVICE, namespace), this.log);
      const pair = await this.#servingRenewer.initial();
      const https = createHttpsServer({ ...serverOptions, cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }, (req, res) => streams.handle(req, res));
      this.#servingRenewer.attach(https);
      this.#stream = https;
    } else {
      this.#stream = createServer(serverOptions, (req, res) => streams.handle(req, res));
    }
    this.#api = createServer(apiHandler({
      // The status names every subscription: with a shared token it needs that token too.
      statusAuth: this.options.token === undefined ? undefined : sharedSecret(this.options.token),
      sidecars: () => this.status(), policies: () => this.#policyState(), metrics: this.metrics,
      info: () => ({ version: PETREL_VERSION, kubernetes: this.options.kubernetes !== undefined, certTtlMs: identity === undefined ? null : this.options.certTtlMs ?? DEFAULT_CERT_TTL_MS }),
      stats: () => this.stats.merged(),
      topology: () => buildTopology({ reports: this.stats.reports(), sidecars: this.status(), stat: this.stats.merged() }),
      web: new WebAssets(),
      kubernetesChecks: this.options.kubernetes === undefined ? undefined : () => this.#kubernetesChecks(),
      describe: (kind, namespace, name) => this.describe(kind, namespace, name),
      taps: this.taps,
    }));
    await Promise.all([listen(this.#stream as Server, this.options.host, this.options.streamPort), listen(this.#api, this.options.host, this.options.apiPort)]);
    const webhook = this.options.webhook;
    if (webhook !== undefined) {
      // Loaded only here: node-forge and the injector are not needed without webhooks.
      const { createWebhookServer } = await import('./webhooks/webhook-server.ts');
      // Injected sidecars pin the mesh roots for the config stream when it speaks HTTPS.
      const injector = () => (streamTls && identity !== undefined ? { ...webhook.injector, trustRootsPem: identity.roots().join('') } : webhook.injector);
      this.#webhookCert = await this.#webhookCertificate(webhook);
      this.#webhooks = createWebhookServer({ certificate: this.#webhookCert, injector, log: this.log });
      await listen(this.#webhooks, this.options.host, webhook.port);
      this.log.info({ webhooks: this.address('webhook') }, 'admission webhooks listening (HTTPS): POST /inject, POST /validate');
    }
    const policies = this.#policyState().policies.length;
    this.log.info({ stream: this.address('stream'), tls: streamTls, identity: identity !== undefined, api: this.address('api'), policies, dir: this.options.policiesDir }, 'control plane listening');
  }

  /** The CA, from --ca-dir, the Kubernetes Secret or memory; a rotation pushes the new bundle. */
  async #startIdentity(): Promise<CertificateAuthority> {
    const now = this.options.now ?? Date.now;
    const trustDomain = this.options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    const issuer = await obtainIssuer({
      caDir: this.options.caDir, kubernetes: this.options.kubernetes, namespace: this.#namespace(), trustDomain, log: this.log, now,
    });
    const ca = new CertificateAuthority({ issuer, trustDomain, certTtlMs: this.options.certTtlMs ?? DEFAULT_CERT_TTL_MS, now });
    ca.on('bundle', () => this.#scheduler.schedule());
    this.identity = ca;
    return ca;
  }

  #bundle(): IdentitySpec | undefined {
    return this.identity === undefined ? undefined : { trustDomain: this.identity.trustDomain, roots: this.identity.roots() };
  }

  #namespace(): string {
    return this.options.namespace ?? this.options.webhook?.namespace ?? 'petrel-system';
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

  /** `petrel check`'s cluster checks: what this control plane can see with its kube client. */
  async #kubernetesChecks(): Promise<CheckResult[]> {
    const { loadKubeConfig } = await import('./kube-config.ts');
    const { kubernetesChecks } = await import('./kubernetes-checks.ts');
    const { DEFAULT_WEBHOOK_NAMES } = await import('./webhooks/webhook-bootstrap.ts');
    const webhook = this.options.webhook;
    const address = this.#webhooks?.address() as AddressInfo | null | undefined;
    return kubernetesChecks({
      kc: loadKubeConfig(this.options.kubernetes?.kubeconfig), now: this.options.now,
      webhook: webhook === undefined || this.#webhookCert === undefined || !address ? undefined : {
        certificate: this.#webhookCert, host: this.options.host, port: address.port, serverName: `${CONTROL_SERVICE}.${webhook.namespace}.svc`,
        mutating: DEFAULT_WEBHOOK_NAMES.mutatingWebhook, validating: DEFAULT_WEBHOOK_NAMES.validatingWebhook,
      },
    });
  }

  address(which: 'stream' | 'api' | 'webhook'): string {
    const a = (which === 'stream' ? this.#stream : which === 'api' ? this.#api : this.#webhooks)?.address() as AddressInfo | null | undefined;
    return a ? `${a.address}:${a.port}` : '';
  }

  async stop(): Promise<void> {
    for (const source of this.#sources) source.stop();
    this.#scheduler.stop();
    this.#servingRenewer?.stop();
    this.identity?.close();
    this.taps.close();
    this.#streams?.close();
    for (const server of [this.#stream, this.#api, this.#webhooks]) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  /** `petrel describe`: one service, or a pod's services, from this moment's round, registry, subscriptions and stat summaries. */
  describe(kind: 'service' | 'pod', namespace: string, name: string): { body: unknown } | { notFound: string } {
    const input = { round: this.#scheduler.round(), services: this.registry.services(), sidecars: this.status(), endpoints: (s: string) => this.stats.endpoints(s) };
    try {
      return { body: kind === 'service' ? describeService(input, namespace, name) : describePod(input, namespace, name) };
    } catch (err) {
      if (err instanceof NotFound) return { notFound: err.message };
      throw err;
    }
  }

  status(): SidecarStatus[] {
    return this.#streams?.status() ?? [];
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
}
