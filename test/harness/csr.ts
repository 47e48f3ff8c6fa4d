// CSRs for the certificate tests: an honest one that claims a foreign identity anyway, one whose
// signature does not verify, and one with an RSA key.
import { webcrypto } from 'node:crypto';
import { EC_P256, generateP256, x509, type CryptoKeyPair } from '../../control/identity/x509.ts';

/** A CSR as an attacker might send it: its own subject and a SAN naming someone else. */
export async function makeCsr(o: { san?: string; keys?: CryptoKeyPair | undefined } = {}): Promise<string> {
  const keys = o.keys ?? await generateP256();
  const extensions = o.san === undefined ? [] : [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: o.san }])];
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=evil', keys, signingAlgorithm: EC_P256, extensions });
  return csr.toString('pem');
}

/** The same CSR with one byte of its signed content changed: it parses, its signature does not verify. */
export function tamper(pem: string): string {
  const der = Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
  const at = der.indexOf(Buffer.from('evil'));
  der[at] = 'f'.charCodeAt(0);
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE REQUEST-----\n`;
}

export async function rsaCsr(): Promise<string> {
  const alg = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']) as CryptoKeyPair;
  return (await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=rsa', keys, signingAlgorithm: alg })).toString('pem');
}

