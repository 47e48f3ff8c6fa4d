// The sidecar process: config store, listeners, admin server and graceful shutdown wired together.
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { createAdminServer } from './admin/admin-server.ts';
import { configDump } from './admin/config-dump.ts';
import { ConfigRejectedError, ConfigStore } from './config/config-store.ts';
import { loadSnapshotFile } from './config/file-source.ts';
import { ControlClient } from './config/control-client.ts';
import { createListener, type ListenerLimits } from './listener/http-listener.ts';
import type { ProxyContext } from './pipeline/context.ts';
import { PolicyStateRegistry } from './policy/policy-state.ts';
import { SelfAddresses } from './routing/self-address.ts';
import type { Interceptor } from './interception/connection-interceptor.ts';
import type { Socket } from 'node:net';
import { createH2Listener, type H2Listener } from './listener/http2-listener.ts';
import { InboundPipeline } from './pipeline/inbound.ts';
import { OutboundPipeline } from './pipeline/outbound.ts';
import { SidecarMetrics } from './telemetry/metrics.ts';
import { endpointViews } from './telemetry/endpoint-views.ts';
import { PoolRegistry } from './upstream/pool-registry.ts';
import { EndpointStateRegistry } from './upstream/endpoint-state.ts';
import { systemClock, systemRandom, type Clock, type Random } from './policy/clock.ts';
import { MAX_TIMER_MS } from '../api/duration.ts';
import { AccessLog, type AccessLogMode } from './telemetry/access-log.ts';
import { startTracing } from './telemetry/tracing.ts';
import { Tap } from './telemetry/tap.ts';
import { DEFAULT_DETECT_TIMEOUT_MS, interceptConnections } from './interception/connection-interceptor.ts';
import { loadOriginalDestinationAddon } from './interception/original-destination.ts';
import { OpaqueTcpProxy } from './interception/opaque-tcp.ts';
import { MeshTls } from './identity/mesh-tls.ts';
import { WorkloadIdentity } from './identity/workload-identity.ts';
import { MtlsTerminator } from './listener/mtls-terminator.ts';

export interface SidecarOptions {
  service: string;
  namespace: string;
  /** host:port of the local app. */
  app?: string;
  inboundHost: string;
  inboundPort: number;
  outboundHost: string;
  outboundPort: number;
  adminHost: string;
  adminPort: number;
  /** A static snapshot file instead of a control plane. */
  configFile?: string;
  /** The control plane's config stream, http://HOST:15010. */
  control?: {
    url: string; token: string | undefined; tokenFile?: string; advertise: string | undefined; cacheFile: string | undefined; name: string | undefined;
    /** PEM roots pinned for an https control URL (Kubernetes: the mesh root the injector put in PETREL_CONTROL_CA). */
    ca?: string | undefined;
    /** The service account named in this sidecar's certificate (locally; in Kubernetes the token decides). Default: the service. */
    serviceAccount?: string | undefined;
    /** The Service port its inbound address is registered for (locally; in Kubernetes EndpointSlices decide). Default 80. */
    servicePort?: number | undefined;
  };
  /** In-flight requests get this long to finish on shutdown. Default 30000 ms. */
  drainGraceMs: number;
  /**
   * On shutdown, how long the listeners keep accepting after the sidecar has deregistered, while
   * callers learn that it is going (every response then says Connection: close). Default 5000 ms
   * with a control plane, 0 without one (nobody would learn anything).
   */
  drainDelayMs?: number;
  limits: ListenerLimits;
  /** A redirected connection silent this long is passed through as opaque TCP. Default 100 ms. */
  detectTimeoutMs?: number;
  logLevel: string;
  log?: Logger;
  /** One JSON line per request on stdout: off, errors (default) or all. */
  accessLog?: AccessLogMode;
  /** Injected time and randomness (tests); the system ones by default. */
  clock?: Clock;
  random?: Random;
}

/** How long a draining sidecar keeps accepting after deregistering, with a control plane. */
export const DEFAULT_DRAIN_DELAY_MS = 5000;

export class Sidecar {
  readonly options: SidecarOptions;
  readonly log: Logger;
  readonly pools = new PoolRegistry();
  readonly metrics = new SidecarMetrics(() => this.pools.stats().connected);
  readonly store: ConfigStore;
  readonly endpointStates: EndpointStateRegistry;
  readonly policyStates = new PolicyStateRegistry();
  readonly ctx: ProxyContext;
  #inbound: Server | undefined;
  #outbound: Server | undefined;
  /** The HTTP/2 side of each listener: sessions of connections that opened with the preface. */
  #h2: H2Listener[] = [];
  #admin: Server | undefined;
  #draining = false;
  #stopped: Promise<void> | undefined;
  #controlClient: ControlClient | undefined;
  readonly #opaque = new OpaqueTcpProxy();
  /** The workload certificate and trust bundle: mTLS to other sidecars, and from them. */
  readonly identity: WorkloadIdentity;

  constructor(options: SidecarOptions) {
    this.options = options;
    this.log = options.log ?? pino({ level: options.logLevel, base: { service: options.service } });
    const self = { service: options.service, namespace: options.namespace };
    const clock = options.clock ?? systemClock;
    const random = options.random ?? systemRandom;
    const metrics = this.metrics;
    const peer = (serviceId: string) => serviceId.slice(0, serviceId.indexOf('.'));
    this.endpointStates = new EndpointStateRegistry(clock, random, {
      onCreated: (service, endpoint) => metrics.circuitCreated(peer(service), endpoint),
      onTransition: (service, endpoint, to) => {
        metrics.circuitTransition(peer(service), endpoint, to);
        this.log.info({ service, endpoint, to }, 'circuit breaker transition');
      },
    });
    const tlsObserver = metrics.identity.observer((fields, message) => this.log.warn(fields, message));
    this.pools.tlsObserver = tlsObserver;
    const env = { clock, random, log: this.log, draining: () => this.#draining, tracing: undefined, tlsObserver };
    const meshTls = new MeshTls();
    this.store = new ConfigStore({ self, app: options.app, pools: this.pools, endpointStates: this.endpointStates, policyStates: this.policyStates, metrics, env, meshTls });
    this.identity = new WorkloadIdentity({ tls: meshTls, store: this.store, metrics: metrics.identity, log: this.log, random });
    this.ctx = Object.assign(env, {
      self, store: this.store, pools: this.pools, metrics, app: options.app,
      selfAddresses: new SelfAddresses([options.inboundPort, options.outboundPort, options.adminPort]),
      accessLog: new AccessLog(options.accessLog ?? 'errors'),
      tap: new Tap({ clock, self }),
    });
  }

  get draining(): boolean {
    return this.#draining;
  }

  async start(): Promise<void> {
    const { options } = this;
    if (options.configFile !== undefined) {
      const compiled = await loadSnapshotFile(this.store, options.configFile);
      this.log.info({ version: compiled.version, file: options.configFile }, 'config loaded');
    }
    this.ctx.tracing = await startTracing(options.service, options.namespace);
    if (this.ctx.tracing) this.log.info('tracing on: exporting spans over OTLP/HTTP');
    // An Upgrade the upstream refused hands its connection back to the HTTP server it came from; a
    // CONNECT to a mesh service is served by the outbound listener as a new connection.
    let inboundConnections: Interceptor | undefined;
    let outboundConnections: Interceptor | undefined;
    const inbound = new InboundPipeline(this.ctx, (socket, head) => inboundConnections?.toHttp1(socket as Socket, head), () => this.identity.trustsPlaintextHeaders());
    const outbound = new OutboundPipeline(this.ctx, (socket, head) => outboundConnections?.toHttp1(socket as Socket, head),
      (socket, head) => outboundConnections?.serve(socket, head));
    const drop = (listener: string) => () => this.metrics.connectionsDropped.inc({ listener });
    this.#inbound = createListener(options.limits, { request: inbound.handle, upgrade: inbound.upgrade, dropped: drop('inbound') });
    this.#outbound = createListener(options.limits, {
      request: outbound.handle, upgrade: outbound.upgrade, connect: outbound.connect, dropped: drop('outbound'),
    });
    const draining = () => this.#draining;
    const inboundH2 = createH2Listener(options.limits, inbound.stream, draining);
    const outboundH2 = createH2Listener(options.limits, outbound.stream, draining);
    this.#h2 = [inboundH2, outboundH2];
    // Every connection's first bytes pick HTTP/1.1 or HTTP/2; connections iptables redirected here
    // that are neither are opaque TCP.
    const detectTimeoutMs = options.detectTimeoutMs ?? DEFAULT_DETECT_TIMEOUT_MS;
    const firstBytesTimeoutMs = options.limits.headersTimeoutMs;
    const terminator = new MtlsTerminator({
      handshakeTimeoutMs: firstBytesTimeoutMs, observer: this.pools.tlsObserver,
      h2: (socket) => inboundH2.serve(socket), http1: (socket) => inboundConnections?.toHttp1(socket, Buffer.alloc(0)),
      opaque: (socket, destination) => inbound.opaqueFromSidecar(socket, destination, this.#opaque),
    });
    this.identity.attach(terminator);
    inboundConnections = interceptConnections(this.#inbound, {
      detectTimeoutMs, firstBytesTimeoutMs, classify: inbound.classify, h2: inboundH2.serve,
      opaque: (socket, destination, head) => inbound.opaque(socket, destination, head, this.#opaque),
      // Only a ClientHello that names this sidecar's own identity is terminated here.
      tls: {
        terminate: (socket) => terminator.terminate(socket),
        isMeshName: (name) => this.identity.isOwnServerName(name),
      },
    });
    // The outbound listener serves the pod's own processes only, whatever address it is bound to.
    const selfAddresses = this.ctx.selfAddresses;
    outboundConnections = interceptConnections(this.#outbound, {
      detectTimeoutMs, firstBytesTimeoutMs, classify: () => 'detect', h2: outboundH2.serve,
      admit: (socket) => selfAddresses.isLocalPeer(socket.remoteAddress),
      opaque: (socket, destination, head) => outbound.opaque(socket, destination, head, this.#opaque),
    });
    const addon = loadOriginalDestinationAddon();
    if (!addon.available) this.log.info({ reason: addon.reason }, 'SO_ORIGINAL_DST addon not loaded: connections redirected by iptables are treated as direct');
    this.#admin = createAdminServer(this.ctx, {
      notReadyReason: () => (this.#draining ? 'draining' : this.store.current === undefined ? 'no config yet'
        : this.identity.pendingReason()),
      details: () => this.identity.status(),
      drain: () => void this.drain(),
      configDump: () => this.configDump(),
    });
    await Promise.all([
      listen(this.#inbound, options.inboundHost, options.inboundPort),
      listen(this.#outbound, options.outboundHost, options.outboundPort),
      listen(this.#admin, options.adminHost, options.adminPort),
    ]);
    this.ctx.selfAddresses.addPorts([this.#inbound, this.#outbound, this.#admin].map((server) => (server.address() as AddressInfo).port));
    this.log.info({ inbound: this.address('inbound'), outbound: this.address('outbound'), admin: this.address('admin'), app: options.app }, 'sidecar listening');
    if (options.control !== undefined) {
      const c = options.control;
      this.identity.start({ url: c.url, token: c.token, tokenFile: c.tokenFile, ca: c.ca }, options.namespace, c.serviceAccount ?? options.service,
        () => this.#controlClient?.reportCertificate());
      const inboundPort = (this.#inbound.address() as AddressInfo).port;
      const advertise = options.control.advertise ?? `127.0.0.1:${inboundPort}`;
      this.#controlClient = new ControlClient({
        url: options.control.url, token: options.control.token, tokenFile: options.control.tokenFile, service: options.service, namespace: options.namespace,
        advertise, name: options.control.name ?? advertise, cacheFile: options.control.cacheFile, ca: options.control.ca,
        serviceAccount: options.control.serviceAccount, servicePort: options.control.servicePort,
        certificate: () => this.identity.certificate(),
        stats: () => ({ ...this.metrics.stat.summary(), endpoints: endpointViews(this.store.current) }),
        tap: this.ctx.tap,
        store: this.store, log: this.log, random: this.ctx.random,
      });
      await this.#controlClient.start();
    }
  }

  /** Re-reads --config; a bad file is logged and the running snapshot stays. */
  async reload(): Promise<void> {
    if (this.options.configFile === undefined) return;
    try {
      const compiled = await loadSnapshotFile(this.store, this.options.configFile);
      this.log.info({ version: compiled.version }, 'config reloaded');
    } catch (err) {
      if (!(err instanceof ConfigRejectedError)) throw err;
      this.log.error({ issues: err.issues, version: this.store.current?.version }, err.message);
    }
  }

  address(which: 'inbound' | 'outbound' | 'admin'): string {
    const server = which === 'inbound' ? this.#inbound : which === 'outbound' ? this.#outbound : this.#admin;
    const a = server?.address() as AddressInfo | null | undefined;
    return a ? `${a.address}:${a.port}` : '';
  }

  configDump(): unknown {
    return configDump({
      service: this.options.service, namespace: this.options.namespace, draining: this.#draining,
      current: this.store.current, pools: this.pools, identity: this.identity.status(),
    });
  }

  /**
   * Leaves the mesh without losing a request. /ready answers 503 and every response says
   * Connection: close from the first moment; the sidecar deregisters its endpoint, then keeps
   * accepting for the drain delay while callers learn it is going; then it stops accepting and
   * lets in-flight requests finish within the grace period; then it closes upstream pools.
   */
  drain(): Promise<void> {
    if (this.#stopped) return this.#stopped;
    this.#draining = true;
    const delayMs = this.options.drainDelayMs ?? (this.#controlClient === undefined ? 0 : DEFAULT_DRAIN_DELAY_MS);
    this.log.info({ delayMs, graceMs: this.options.drainGraceMs }, 'draining');
    this.#stopped = this.#deregister(delayMs)
      .then(() => new Promise<void>((resolve) => setTimeout(resolve, Math.min(delayMs, MAX_TIMER_MS))))
      .then(() => this.#closeListeners());
    return this.#stopped;
  }

  /**
   * Tells the control plane this endpoint is going, so callers stop picking it; they learn within
   * the drain delay. The stream stays open: the app may still call out while it drains.
   */
  async #deregister(delayMs: number): Promise<void> {
    await this.#controlClient?.deregister(Math.max(1000, Math.min(delayMs, 5000)));
  }

  async #closeListeners(): Promise<void> {
    const listeners = [this.#inbound, this.#outbound].filter((s): s is Server => s !== undefined);
    const closed = Promise.all(listeners.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    // HTTP/2 clients get GOAWAY: streams in flight finish, new ones go elsewhere.
    const sessions = this.#h2.flatMap((h2) => [...h2.sessions]);
    for (const session of sessions) session.close();
    const sessionsClosed = Promise.all(sessions.map((session) => (session.closed ? undefined : once(session, 'close'))));
    // Keep-alive connections between requests would hold close() open: shut each as it goes idle.
    const sweep = setInterval(() => listeners.forEach((s) => s.closeIdleConnections()), 50);
    listeners.forEach((s) => s.closeIdleConnections());
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'grace'>((resolve) => { timer = setTimeout(() => resolve('grace'), Math.min(this.options.drainGraceMs, MAX_TIMER_MS)); });
    const outcome = await Promise.race([Promise.all([closed, sessionsClosed]), grace]);
    clearInterval(sweep);
    clearTimeout(timer);
    if (outcome === 'grace') {
      this.log.warn('grace period over; closing remaining connections');
      listeners.forEach((s) => s.closeAllConnections());
      for (const h2 of this.#h2) for (const session of h2.sessions) session.destroy();
      this.#opaque.destroyAll();
    }
    this.#controlClient?.stop();
    this.ctx.tap.stop();
    this.identity.stop();
    await this.pools.close();
    await this.ctx.tracing?.shutdown().catch(() => {});
    this.log.info('drained');
  }

  /** Drains, then closes the admin server too. */
  async stop(): Promise<void> {
    await this.drain();
    const admin = this.#admin;
    if (admin) {
      admin.closeAllConnections();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
    }
  }
}

async function listen(server: Server, host: string, port: number): Promise<void> {
  server.listen(port, host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err; })]);
}
