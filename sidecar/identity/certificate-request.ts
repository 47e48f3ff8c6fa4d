// One certificate from the control plane's CA: a fresh P-256 key made in memory (it never touches
// disk), a CSR signed with it, and the POST /v1/certificate exchange. The answer is checked before it
// is used: the certificate must carry our public key, chain to one of the roots that came with it and
// name a SPIFFE identity. The CSR claims nothing the CA would believe: the CA writes the identity from
// our credential.
import 'reflect-metadata';
import { createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { identityOfCertificate, type PeerIdentity } from './spiffe.ts';
import { postJson, type ControlEndpoint } from '../config/control-endpoint.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A workload certificate and its key, as TLS contexts take them. */
export interface Credentials {
  readonly certPem: string;
  readonly keyPem: string;
  /** The roots the CA sent with it. */
  readonly roots: readonly string[];
  readonly identity: PeerIdentity;
  /** Epoch milliseconds. */
  readonly notBefore: number;
  readonly notAfter: number;
  readonly serial: string;
}

/** Why a certificate could not be had; `code` is stable, `retryAfterMs` set on 429. */
export class CertificateError extends Error {
  readonly code: 'IDENTITY_DISABLED' | 'CERTIFICATE_REFUSED' | 'CERTIFICATE_INVALID' | 'CONTROL_UNREACHABLE';
  readonly retryAfterMs: number | undefined;
  constructor(code: CertificateError['code'], message: string, retryAfterMs?: number) {
    super(message);
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

export interface CertificateRequestOptions {
  control: ControlEndpoint;
  namespace: string;
  serviceAccount: string;
}

interface CertificateReply {
  certificate?: unknown;
  roots?: unknown;
  error?: unknown;
}

export async function requestCertificate(o: CertificateRequestOptions): Promise<Credentials> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ keys, signingAlgorithm: ALGORITHM });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  let reply: { status: number; body: string; retryAfter: string | undefined };
  try {
    reply = await postJson(o.control, '/v1/certificate', { csr: csr.toString('pem'), namespace: o.namespace, serviceAccount: o.serviceAccount });
  } catch (err) {
    throw new CertificateError('CONTROL_UNREACHABLE', `cannot reach the control plane at ${o.control.url}: ${(err as Error).message}`);
  }
  let parsed: CertificateReply;
  try {
    parsed = JSON.parse(reply.body) as CertificateReply;
  } catch {
    parsed = {};
  }
  const said = typeof parsed.error === 'string' ? parsed.error : reply.body.slice(0, 300);
  if (reply.status === 404) throw new CertificateError('IDENTITY_DISABLED', `the control plane issues no certificates: ${said}`);
  if (reply.status === 429) {
    const seconds = Number(reply.retryAfter);
    throw new CertificateError('CERTIFICATE_REFUSED', `the control plane rate-limited the certificate request: ${said}`, Number.isFinite(seconds) ? seconds * 1000 : undefined);
  }
  if (reply.status !== 200) throw new CertificateError('CERTIFICATE_REFUSED', `the control plane refused the certificate request (${reply.status}): ${said}`);
  return checkReply(parsed, keys.publicKey, keyPem);
}

async function checkReply(reply: CertificateReply, publicKey: webcrypto.CryptoKey, keyPem: string): Promise<Credentials> {
  const invalid = (why: string) => new CertificateError('CERTIFICATE_INVALID', `the control plane's certificate is unusable: ${why}`);
  if (typeof reply.certificate !== 'string' || !Array.isArray(reply.roots) || reply.roots.length === 0 || !reply.roots.every((r) => typeof r === 'string')) {
    throw invalid('the reply lacks certificate or roots');
  }
  let cert: X509Certificate;
  let roots: X509Certificate[];
  try {
    cert = new X509Certificate(reply.certificate);
    roots = (reply.roots as string[]).map((r) => new X509Certificate(r));
  } catch (err) {
    throw invalid(`not PEM certificates (${(err as Error).message})`);
  }
  const ours = createPublicKey({ key: Buffer.from(await webcrypto.subtle.exportKey('spki', publicKey)), format: 'der', type: 'spki' });
  if (!cert.publicKey.equals(ours)) throw invalid('it does not carry the key this sidecar sent');
  if (!roots.some((root) => cert.checkIssued(root) && cert.verify(root.publicKey))) throw invalid('no root that came with it signed it');
  const identity = identityOfCertificate(cert);
  if (identity === undefined) throw invalid(`it names no SPIFFE identity (SAN ${cert.subjectAltName ?? 'none'})`);
  return {
    certPem: cert.toString(), keyPem, roots: reply.roots as string[], identity,
    notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo), serial: cert.serialNumber,
  };
}
