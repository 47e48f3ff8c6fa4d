// What the CA takes from a CSR: its public key, and nothing else. The signature is verified (the
// requester holds the private key), the key must be ECDSA P-256; the subject, SANs and extensions
// the CSR asks for are never read, because the identity comes from the caller's credential.
import { x509 } from './x509.ts';

/** A CSR the CA refuses; the message says why, and is what the 400 answer carries. */
export class CsrError extends Error {
  readonly code = 'PETREL_BAD_CSR';
}

const PEM = /-----BEGIN CERTIFICATE REQUEST-----[\s\S]+?-----END CERTIFICATE REQUEST-----/;

/** The CSR's public key once its signature verifies; throws CsrError naming what is wrong. */
export async function csrPublicKey(pem: string): Promise<x509.PublicKey> {
  const block = PEM.exec(pem)?.[0];
  if (block === undefined) throw new CsrError('csr: not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)');
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(block);
  } catch (err) {
    throw new CsrError(`csr: not a valid PKCS#10 request (${(err as Error).message})`);
  }
  const algorithm = request.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
    throw new CsrError(`csr: the key must be ECDSA P-256, got ${algorithm.name ?? 'unknown'}${algorithm.namedCurve ? ` ${algorithm.namedCurve}` : ''}`);
  }
  let valid = false;
  try {
    valid = await request.verify();
  } catch {
    valid = false;
  }
  if (!valid) throw new CsrError('csr: the signature does not verify (it must be signed by the key it carries)');
  return request.publicKey;
}
