// The one place @peculiar/x509 is set up. It needs reflect-metadata loaded first (it uses decorators
// but does not declare the dependency) and a WebCrypto provider; Node's own is the one we use, so
// keys stay node:crypto keys and TLS, parsing and verification stay with node:crypto.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509 };
/** WebCrypto key types by their Node names (the project compiles without the DOM library). */
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** ECDSA P-256 with SHA-256: the only algorithm the mesh issues or accepts (contract12.md). */
export const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export async function generateP256(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

/** A positive 16-byte serial (RFC 5280 allows up to 20 octets; the top bit clear keeps it positive). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f | 0x01;
  return bytes.toString('hex');
}

/** A private key in PEM (PKCS#8, or SEC1 "EC PRIVATE KEY" as cert-manager writes it) as a signing key. */
export function importP256PrivateKey(pem: string): CryptoKey {
  const key = createPrivateKey(pem);
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
    throw new Error(`the issuer key must be ECDSA P-256, got ${key.asymmetricKeyType ?? 'unknown'}${details?.namedCurve ? ` ${details.namedCurve}` : ''}`);
  }
  return key.toCryptoKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign']);
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END PRIVATE KEY-----\n`;
}
