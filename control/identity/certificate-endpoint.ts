// POST /v1/certificate on the stream port: a sidecar sends a CSR and gets its workload certificate.
// The stream server authenticates the caller first and hands over its principal. The identity comes
// from that principal (a ServiceAccount token names its own namespace and service account) or, with
// the local shared secret, from the request's namespace/serviceAccount; never from the CSR.
//   request   {"csr": PEM, "namespace": string, "serviceAccount": string}   (at most 16 KiB)
//   200       {"certificate", "roots", "identity", "notBefore", "notAfter"}
//   400 {error} a body or CSR that is wrong, saying what; 413 too large; 429 + retry-after per identity
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { formatSpiffe, isIdentityName } from '../../sidecar/identity/spiffe.ts';
import type { Principal } from '../auth.ts';
import { json, readBody } from '../http-util.ts';
import type { ControlMetrics } from '../metrics.ts';
import type { CertificateAuthority } from './certificate-authority.ts';
import { CsrError } from './csr.ts';
import type { IssuanceRateLimit } from './issuance-rate-limit.ts';

export const CERTIFICATE_PATH = '/v1/certificate';
/** A P-256 CSR is under 1 KiB in PEM; 16 KiB leaves room and bounds what a caller can make us parse. */
export const MAX_CERTIFICATE_REQUEST_BYTES = 16 * 1024;

export interface CertificateEndpointOptions {
  ca: CertificateAuthority;
  rateLimit: IssuanceRateLimit;
  metrics: ControlMetrics;
  log: Logger;
}

interface CertificateRequest { csr: string; namespace: string; serviceAccount: string }

export class CertificateEndpoint {
  readonly #o: CertificateEndpointOptions;

  constructor(o: CertificateEndpointOptions) {
    this.#o = o;
  }

  async handle(req: IncomingMessage, res: ServerResponse, principal: Principal): Promise<void> {
    const reject = (status: number, reason: string, error: string) => {
      this.#o.metrics.certificateRejections.inc({ reason });
      json(res, status, { error });
    };
    const body = await readBody(req, res, MAX_CERTIFICATE_REQUEST_BYTES);
    if (body === undefined) return void this.#o.metrics.certificateRejections.inc({ reason: 'too_large' });
    let request: CertificateRequest;
    try {
      request = decodeRequest(body, principal);
    } catch (err) {
      return reject(400, 'bad_request', (err as Error).message);
    }
    // The credential decides: a ServiceAccount token names its own identity, whatever the body says.
    const { namespace, serviceAccount } = principal.kind === 'service-account' ? principal : request;
    const identity = formatSpiffe(this.#o.ca.trustDomain, namespace, serviceAccount);
    const decision = this.#o.rateLimit.take(identity);
    if (!decision.ok) {
      res.setHeader('retry-after', String(decision.retryAfterSeconds));
      this.#o.log.warn({ identity, retryAfter: decision.retryAfterSeconds }, 'certificate request rate-limited');
      return reject(429, 'rate_limited', `${CERTIFICATE_PATH}: too many certificate requests for ${identity}; retry after ${decision.retryAfterSeconds}s`);
    }
    try {
      const issued = await this.#o.ca.issue(request.csr, namespace, serviceAccount);
      this.#o.metrics.certificatesIssued.inc();
      this.#o.log.info({ identity, notAfter: issued.notAfter }, 'certificate issued');
      json(res, 200, issued);
    } catch (err) {
      if (!(err instanceof CsrError)) throw err;
      this.#o.log.warn({ identity, error: err.message }, 'certificate request refused');
      reject(400, 'bad_csr', err.message);
    }
  }
}

function decodeRequest(body: string, principal: Principal): CertificateRequest {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (err) {
    throw new Error(`${CERTIFICATE_PATH}: the body is not JSON (${(err as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${CERTIFICATE_PATH}: the body must be a JSON object {csr, namespace, serviceAccount}`);
  const { csr, namespace, serviceAccount } = v as Record<string, unknown>;
  if (typeof csr !== 'string' || csr === '') throw new Error(`${CERTIFICATE_PATH}: csr must be a PEM certificate request`);
  if (principal.kind === 'service-account') return { csr, namespace: principal.namespace, serviceAccount: principal.serviceAccount };
  // A local credential is a shared secret: the request names the workload, checked as Kubernetes names.
  if (typeof namespace !== 'string' || !isIdentityName(namespace)) throw new Error(`${CERTIFICATE_PATH}: namespace must be a Kubernetes name (lower case), got ${JSON.stringify(String(namespace).slice(0, 64))}`);
  if (typeof serviceAccount !== 'string' || !isIdentityName(serviceAccount)) throw new Error(`${CERTIFICATE_PATH}: serviceAccount must be a Kubernetes name (lower case), got ${JSON.stringify(String(serviceAccount).slice(0, 64))}`);
  return { csr, namespace, serviceAccount };
}
