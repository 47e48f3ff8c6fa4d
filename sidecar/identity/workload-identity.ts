// The sidecar's identity, wired: the certificate's life (IdentityManager), the TLS material built
// from it and the snapshot's trust bundle (MeshTls), and the inbound terminator kept on the newest of
// both. Each new certificate goes to the terminator (setSecureContext) and, by recompiling the
// snapshot in force, into new upstream pools; connections and requests in flight finish on the old.
import type { Logger } from 'pino';
import type { Random } from '../policy/clock.ts';
import type { IdentityMetrics } from '../telemetry/identity-metrics.ts';
import type { MtlsTerminator } from '../listener/mtls-terminator.ts';
import type { ControlEndpoint } from '../config/control-endpoint.ts';
import { IdentityManager } from './identity-manager.ts';
import type { MeshTls } from './mesh-tls.ts';
import { meshServerName } from './spiffe.ts';

export interface WorkloadIdentityOptions {
  /** The TLS material the config store builds pools with (made first: the store needs it). */
  tls: MeshTls;
  /** What a new certificate needs from the config store: does the mesh have identity, and a recompile. */
  store: {
    readonly current: { readonly source: { readonly identity?: unknown } } | undefined;
    on(event: 'applied', listener: () => void): unknown;
    recompile(reason: string): unknown;
  };
  metrics: IdentityMetrics;
  log: Logger;
  random: Random;
}

export class WorkloadIdentity {
  /** The certificate and trust bundle the pools and the terminator use. */
  readonly tls: MeshTls;
  readonly #o: WorkloadIdentityOptions;
  #manager: IdentityManager | undefined;
  #terminator: MtlsTerminator | undefined;
  /** The TLS generation the terminator was last given. */
  #terminatorGeneration = 0;

  constructor(options: WorkloadIdentityOptions) {
    this.#o = options;
    this.tls = options.tls;
    // A new trust bundle in a snapshot is a new generation too.
    options.store.on('applied', () => this.#updateTerminator());
  }

  /** The inbound listener's terminator, kept on the newest certificate and bundle from now on. */
  attach(terminator: MtlsTerminator): void {
    this.#terminator = terminator;
    this.#updateTerminator();
  }

  /** Starts asking the control plane for certificates; `rotated` runs after each new one is in place. */
  start(control: ControlEndpoint, namespace: string, serviceAccount: string, rotated: () => void): void {
    const o = this.#o;
    const manager = new IdentityManager({
      control, namespace, serviceAccount, log: o.log, random: o.random, onRenewal: (result) => o.metrics.renewal(result),
    });
    this.#manager = manager;
    manager.on('rotated', (credentials) => {
      this.tls.setCredentials(credentials);
      o.metrics.certificateExpiry.set(credentials.notAfter / 1000);
      this.#updateTerminator();
      try {
        o.store.recompile('certificate renewal');
      } catch (err) {
        o.log.error({ err: (err as Error).message }, 'recompiling the snapshot for the new certificate failed; pools keep the previous one');
      }
      rotated();
    });
    void manager.start();
  }

  stop(): void {
    this.#manager?.stop();
  }

  /**
   * Unready while the mesh has identity (the snapshot carries a trust bundle) and this sidecar has
   * no certificate yet: its peers would refuse it. A snapshot without a bundle (a control plane
   * without a CA, a cache from one) needs none.
   */
  pendingReason(): string | undefined {
    const state = this.#manager?.state;
    if (state?.kind !== 'pending' || this.#o.store.current?.source.identity === undefined) return undefined;
    return `no workload certificate yet (${state.error ?? 'asking the control plane'})`;
  }

  /** A sidecar with no identity at all (static config, a control plane without a CA) trusts plaintext peers' headers. */
  trustsPlaintextHeaders(): boolean {
    return this.#manager === undefined || this.#manager.state.kind === 'disabled';
  }

  /** Whether a ClientHello's server name is this sidecar's own mesh name (terminate it; else it is the app's TLS). */
  isOwnServerName(name: string): boolean {
    const own = this.tls.credentials?.identity;
    return own !== undefined && name === meshServerName(own);
  }

  /** The certificate in use, for the ACKs `petrel status` shows. */
  certificate(): { identity: string; notAfter: number } | undefined {
    const c = this.tls.credentials;
    return c && { identity: c.identity.uri, notAfter: c.notAfter };
  }

  /** What /ready?details=1 says; a `warning` also goes on the plain /ready answer. */
  status(): Record<string, unknown> {
    const state = this.#manager?.state;
    if (state === undefined) return { identity: null, mtls: 'off (no control plane)' };
    if (state.kind === 'disabled') return { identity: null, mtls: 'off (the control plane issues no certificates)' };
    if (state.kind === 'pending') return { identity: null, mtls: 'waiting for a certificate', error: state.error ?? null };
    const c = state.credentials;
    return {
      identity: c.identity.uri, mtls: 'on', certificateExpires: new Date(c.notAfter).toISOString(), serial: c.serial,
      renewal: state.renewalError === undefined ? 'ok' : `failing: ${state.renewalError}`,
      ...(state.renewalError === undefined ? {} : {
        warning: `cannot renew the workload certificate (${state.renewalError}); serving on the current one until ${new Date(c.notAfter).toISOString()}`,
      }),
    };
  }

  #updateTerminator(): void {
    const generation = this.tls.generation;
    const options = this.tls.serverOptions();
    if (options === undefined || generation === this.#terminatorGeneration || this.#terminator === undefined) return;
    this.#terminatorGeneration = generation;
    this.#terminator.update(options);
  }
}
