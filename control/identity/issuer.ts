// The mesh issuer: an ECDSA P-256 key and its self-signed root (CA:true, pathLen 0, keyCertSign), from
// which every workload certificate is signed. It comes from --ca-dir (ca.crt + ca.key, or the
// tls.crt + tls.key a cert-manager Certificate Secret holds), from the Kubernetes Secret
// (issuer-secret.ts), or is generated in memory. Loaded material is checked before it is used: a
// wrong key type or a key that does not match the certificate fails the start, not the first CSR.
import { createPublicKey, X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EC_P256, generateP256, importP256PrivateKey, privateKeyPem, randomSerial, x509, type CryptoKey } from './x509.ts';

export interface Issuer {
  readonly certPem: string;
  readonly keyPem: string;
  readonly cert: x509.X509Certificate;
  readonly key: CryptoKey;
  readonly notAfter: Date;
}

/** A root outlives many rotations of workload certificates; it is replaced by rotate(), not by expiry. */
export const ROOT_VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000;

export class IssuerError extends Error {
  readonly code = 'PETREL_BAD_ISSUER';
}

export async function generateIssuer(trustDomain: string, now: Date): Promise<Issuer> {
  const keys = await generateP256();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `O=petrel, CN=petrel mesh root ${trustDomain}`,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + ROOT_VALIDITY_MS),
    keys,
    signingAlgorithm: EC_P256,
    extensions: [
      // pathLen 0: the root signs leaves only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  // One PEM spelling (with the final newline issuerFromPem keeps): every replica's bundle is byte-equal.
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await privateKeyPem(keys.privateKey), cert, key: keys.privateKey, notAfter: cert.notAfter };
}

/** An issuer from PEM: the first certificate of `certPem` must be a CA whose key is `keyPem`. */
export function issuerFromPem(certPem: string, keyPem: string, origin: string): Issuer {
  const first = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/.exec(certPem)?.[0];
  if (first === undefined) throw new IssuerError(`${origin}: no PEM certificate`);
  let node: X509Certificate;
  let key: CryptoKey;
  try {
    node = new X509Certificate(first);
    key = importP256PrivateKey(keyPem);
  } catch (err) {
    throw new IssuerError(`${origin}: ${(err as Error).message}`);
  }
  if (!node.ca) throw new IssuerError(`${origin}: the certificate is not a CA (basicConstraints CA:true is required)`);
  const fromKey = createPublicKey(keyPem).export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(node.publicKey.export({ type: 'spki', format: 'der' }))) throw new IssuerError(`${origin}: the key does not belong to the certificate`);
  const cert = new x509.X509Certificate(first);
  return { certPem: `${first}\n`, keyPem, cert, key, notAfter: cert.notAfter };
}

const LAYOUTS = [['ca.crt', 'ca.key'], ['tls.crt', 'tls.key']] as const;

/** The issuer in `dir` (ca.crt + ca.key, else cert-manager's tls.crt + tls.key); undefined when neither pair is there. */
export async function loadIssuerDir(dir: string): Promise<Issuer | undefined> {
  for (const [certFile, keyFile] of LAYOUTS) {
    const cert = await readFile(join(dir, certFile), 'utf8').catch(() => undefined);
    const key = await readFile(join(dir, keyFile), 'utf8').catch(() => undefined);
    if (cert !== undefined && key !== undefined) return issuerFromPem(cert, key, `--ca-dir ${dir} (${certFile}, ${keyFile})`);
  }
  return undefined;
}

/** Writes ca.crt and ca.key (owner-only: it is the key of the whole mesh). */
export async function saveIssuerDir(dir: string, issuer: Issuer): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'ca.key'), issuer.keyPem, { mode: 0o600 });
  await writeFile(join(dir, 'ca.crt'), issuer.certPem, { mode: 0o644 });
}
