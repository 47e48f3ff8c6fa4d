// The control plane's own serving certificate for the config stream and the certificate endpoint
// over HTTPS (Kubernetes, or streamTls). It is signed by the mesh issuer, so the root that sidecars
// get injected (and pin) is all they need to trust it. It is short-lived like workload certificates
// and re-signed at two thirds of its life, and at once after a rotation, then swapped into the
// running server with setSecureContext: open streams keep going.
import { createPrivateKey } from 'node:crypto';
import type { Server as HttpsServer } from 'node:https';
import type { Logger } from 'pino';
import { signLeaf, type CertificateAuthority } from './certificate-authority.ts';
import { CLOCK_SKEW_MS } from './certificate-authority.ts';
import { generateP256, privateKeyPem } from './x509.ts';

export interface ServingKeyPair { cert: string; key: string; notAfter: Date }

/** Node fires longer timers at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** DNS names the stream is reached by in a cluster (injection-config.ts CONTROL_SERVICE). */
export function streamDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service, 'localhost'];
}

export async function signServingCertificate(ca: CertificateAuthority, dnsNames: string[]): Promise<ServingKeyPair> {
  const keys = await generateP256();
  const now = Date.now();
  const notAfter = new Date(Math.min(now + ca.certTtlMs, ca.issuer.notAfter.getTime()));
  const cert = await signLeaf(ca.issuer, keys.publicKey, new Date(now - CLOCK_SKEW_MS), notAfter, dnsNames.map((value) => ({ type: 'dns', value })));
  // The chain is the leaf alone: clients hold the root.
  return { cert: cert.toString('pem'), key: createPrivateKey(await privateKeyPem(keys.privateKey)).export({ type: 'pkcs8', format: 'pem' }).toString(), notAfter };
}

/** Keeps `server`'s certificate fresh until stop(). */
export class ServingCertificateRenewer {
  readonly #ca: CertificateAuthority;
  readonly #names: string[];
  readonly #log: Logger;
  #server: HttpsServer | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #onBundle = () => void this.renew();

  constructor(ca: CertificateAuthority, names: string[], log: Logger) {
    this.#ca = ca;
    this.#names = names;
    this.#log = log;
  }

  /** The first certificate, before the server exists. */
  async initial(): Promise<ServingKeyPair> {
    const pair = await signServingCertificate(this.#ca, this.#names);
    this.#schedule(pair);
    return pair;
  }

  attach(server: HttpsServer): void {
    this.#server = server;
    this.#ca.on('bundle', this.#onBundle);
  }

  async renew(): Promise<void> {
    if (this.#stopped) return;
    try {
      const pair = await signServingCertificate(this.#ca, this.#names);
      this.#server?.setSecureContext({ cert: pair.cert, key: pair.key });
      this.#log.info({ notAfter: pair.notAfter.toISOString() }, 'control plane serving certificate renewed');
      this.#schedule(pair);
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'control plane serving certificate renewal failed; retrying in 10s');
      this.#arm(10_000);
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#ca.off('bundle', this.#onBundle);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
  }

  #schedule(pair: ServingKeyPair): void {
    const life = pair.notAfter.getTime() - Date.now();
    this.#arm(Math.max(1000, (life * 2) / 3));
  }

  #arm(ms: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.renew(), Math.min(MAX_TIMER_MS, ms));
    this.#timer.unref();
  }
}
