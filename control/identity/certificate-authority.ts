// The mesh CA: signs workload certificates and publishes the trust bundle.
// A leaf names exactly one identity, as the caller's credential says (contract12.md): empty subject,
// one critical URI SAN spiffe://td/ns/NS/sa/SA, CA:false, digitalSignature, serverAuth+clientAuth,
// AKI, a random 16-byte serial; valid from now-60s (clock skew between nodes) to now+certTtl.
// Rotation: rotate() installs a new issuer; the bundle keeps the old root until every certificate it
// may have signed has expired, so peers holding old certificates keep verifying each other.
import { EventEmitter } from 'node:events';
import { formatSpiffe } from '../../sidecar/identity/spiffe.ts';
import { csrPublicKey } from './csr.ts';
import { generateIssuer, type Issuer } from './issuer.ts';
import { EC_P256, randomSerial, x509, type CryptoKey } from './x509.ts';

export const DEFAULT_CERT_TTL_MS = 24 * 3600 * 1000;
/** Leaves start this far in the past: a peer whose clock is a little behind still accepts them. */
export const CLOCK_SKEW_MS = 60_000;
/** Node fires longer timers at once; a far-off retirement is re-checked instead. */
const MAX_TIMER_MS = 2 **31 - 1;

export interface IssuedCertificate {
  certificate: string;
  roots: string[];
  identity: string;
  notBefore: string;
  notAfter: string;
}

export interface CertificateAuthorityOptions {
  issuer: Issuer;
  trustDomain: string;
  certTtlMs: number;
  /** Wall-clock milliseconds; injected by tests. */
  now?: () => number;
}

interface Retired {
  issuer: Issuer;
  /** The old root leaves the bundle at this time. */
  until: number;
}

/** Emits 'bundle' when roots() changes (a rotation, an old root retiring): snapshots must be pushed. */
export class CertificateAuthority extends EventEmitter {
  readonly trustDomain: string;
  readonly certTtlMs: number;
  readonly #now: () => number;
  #issuer: Issuer;
  /** The latest notAfter the current issuer has signed. */
  #lastNotAfter = 0;
  #retired: Retired[] = [];
  #retireTimer: NodeJS.Timeout | undefined;

  constructor(o: CertificateAuthorityOptions) {
    super();
    this.#issuer = o.issuer;
    this.trustDomain = o.trustDomain;
    this.certTtlMs = o.certTtlMs;
    this.#now = o.now ?? Date.now;
  }

  get issuer(): Issuer {
    return this.#issuer;
  }

  /** The trust bundle: the current root first, then old roots whose certificates may still be alive. */
  roots(): string[] {
    const now = this.#now();
    return [this.#issuer.certPem, ...this.#retired.filter((r) => r.until > now).map((r) => r.issuer.certPem)];
  }

  /** Signs a leaf for `namespace`/`serviceAccount` with the CSR's key; throws CsrError for a bad CSR. */
  async issue(csrPem: string, namespace: string, serviceAccount: string): Promise<IssuedCertificate> {
    const publicKey = await csrPublicKey(csrPem);
    const identity = formatSpiffe(this.trustDomain, namespace, serviceAccount);
    const issuer = this.#issuer;
    // Whole seconds: X.509 times have no fractions, and the answer must say what the certificate says.
    const now = Math.floor(this.#now() / 1000) * 1000;
    const notBefore = new Date(now - CLOCK_SKEW_MS);
    // A leaf never outlives its issuer: a verifier would reject the chain from then on anyway.
    const notAfter = new Date(Math.min(now + this.certTtlMs, issuer.notAfter.getTime()));
    const cert = await signLeaf(issuer, publicKey, notBefore, notAfter, [{ type: 'url', value: identity }]);
    if (issuer === this.#issuer) this.#lastNotAfter = Math.max(this.#lastNotAfter, notAfter.getTime());
    else this.#extendRetired(issuer, notAfter.getTime()); // a rotation happened while signing
    return { certificate: cert.toString('pem'), roots: this.roots(), identity, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString() };
  }

  /**
   * A new issuer (generated unless given); new certificates are signed by it. The old root stays in
   * the bundle until the later of its last issued notAfter and now + certTtl: certificates it signed
   * in another replica or before a restart are not tracked here, and none outlives now + certTtl.
   */
  async rotate(next?: Issuer): Promise<void> {
    const issuer = next ?? await generateIssuer(this.trustDomain, new Date(this.#now()));
    const old = this.#issuer;
    this.#retired.push({ issuer: old, until: Math.max(this.#lastNotAfter, this.#now() + this.certTtlMs) });
    this.#issuer = issuer;
    this.#lastNotAfter = 0;
    this.#scheduleRetirement();
    this.emit('bundle');
  }

  /** Stops the retirement timer (the control plane is stopping). */
  close(): void {
    if (this.#retireTimer !== undefined) clearTimeout(this.#retireTimer);
    this.#retireTimer = undefined;
  }

  #extendRetired(issuer: Issuer, notAfter: number): void {
    const r = this.#retired.find((x) => x.issuer === issuer);
    if (r !== undefined && r.until < notAfter) r.until = notAfter;
    this.#scheduleRetirement();
  }

  /** When the next old root drops out, tell the control plane so that sidecars get the smaller bundle. */
  #scheduleRetirement(): void {
    this.close();
    const now = this.#now();
    const before = this.#retired.length;
    this.#retired = this.#retired.filter((r) => r.until > now);
    if (this.#retired.length !== before) this.emit('bundle');
    if (this.#retired.length === 0) return;
    const next = Math.min(...this.#retired.map((r) => r.until));
    this.#retireTimer = setTimeout(() => this.#scheduleRetirement(), Math.min(MAX_TIMER_MS, next - now + 1));
    this.#retireTimer.unref();
  }
}

/** Signs an end-entity certificate (workload or the control plane's own serving certificate). */
export async function signLeaf(issuer: Issuer, publicKey: x509.PublicKey | CryptoKey, notBefore: Date, notAfter: Date, names: x509.JsonGeneralNames): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    // Empty subject: the SAN is the identity, and RFC 5280 then wants the SAN critical.
    subject: '',
    issuer: issuer.cert.subject,
    notBefore,
    notAfter,
    publicKey,
    signingKey: issuer.key,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.SubjectAlternativeNameExtension(names, true),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.cert, false),
    ],
  });
}
