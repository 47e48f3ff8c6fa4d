// A certificate authority for tests: mints roots and workload certificates (good, expired, with a
// wrong SAN, from another CA) with @peculiar/x509, the way the control plane's CA does.
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Credentials } from '../../sidecar/identity/certificate-request.ts';
import { identityOfCertificate, parseSpiffe } from '../../sidecar/identity/spiffe.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

function pem(der: ArrayBuffer, label: string): string {
  return `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`;
}

export class TestCa {
  readonly rootPem: string;
  readonly #root: x509.X509Certificate;
  readonly #keys: webcrypto.CryptoKeyPair;

  private constructor(root: x509.X509Certificate, keys: webcrypto.CryptoKeyPair) {
    this.#root = root;
    this.#keys = keys;
    this.rootPem = root.toString('pem');
  }

  static async create(name = 'petrel test root'): Promise<TestCa> {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
    const now = Date.now();
    const root = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomBytes(8).toString('hex'), name: `CN=${name}`, keys, signingAlgorithm: ALG,
      notBefore: new Date(now - 3_600_000), notAfter: new Date(now + 86_400_000),
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
    });
    return new TestCa(root, keys);
  }

  /** A workload certificate naming `uri` (or other SANs), valid from..until (ms from now). */
  async issue(uri: string, o: { fromMs?: number; untilMs?: number; sans?: x509.JsonGeneralName[] } = {}): Promise<Credentials> {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
    const now = Date.now();
    const notBefore = new Date(now + (o.fromMs ?? -60_000));
    const notAfter = new Date(now + (o.untilMs ?? 3_600_000));
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(8).toString('hex'), subject: '', issuer: this.#root.subject, notBefore, notAfter,
      signingKey: this.#keys.privateKey, publicKey: keys.publicKey, signingAlgorithm: ALG,
      extensions: [
        new x509.SubjectAlternativeNameExtension(o.sans ?? [{ type: 'url', value: uri }], true),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      ],
    });
    const keyPem = pem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
    const { X509Certificate } = await import('node:crypto');
    const parsed = new X509Certificate(cert.toString('pem'));
    const identity = identityOfCertificate(parsed) ?? parseSpiffe(uri);
    if (identity === undefined) throw new Error(`test CA: ${uri} is not a mesh identity`);
    return { certPem: cert.toString('pem'), keyPem, roots: [this.rootPem], identity, notBefore: notBefore.getTime(), notAfter: notAfter.getTime(), serial: parsed.serialNumber };
  }
}

/**
 * A self-signed server certificate of an app's own (not of the mesh): DNS and IP SANs, no SPIFFE
 * URI, its own key. What an app that terminates its own TLS would serve.
 */
export async function selfSignedServerCertificate(o: { dns: string[]; ips: string[] }): Promise<{ certPem: string; keyPem: string; fingerprint256: string }> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex'), name: `CN=${o.dns[0] ?? 'app'}`, keys, signingAlgorithm: ALG,
    notBefore: new Date(now - 3_600_000), notAfter: new Date(now + 86_400_000),
    extensions: [
      new x509.SubjectAlternativeNameExtension([...o.dns.map((value) => ({ type: 'dns' as const, value })), ...o.ips.map((value) => ({ type: 'ip' as const, value }))]),
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
  });
  const certPem = cert.toString('pem');
  const { X509Certificate } = await import('node:crypto');
  return { certPem, keyPem: pem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'), fingerprint256: new X509Certificate(certPem).fingerprint256 };
}
