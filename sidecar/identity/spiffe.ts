// A workload's identity in the SPIFFE form the mesh uses: spiffe://<trust domain>/ns/<namespace>/sa/<service account>.
// The control plane writes it into each certificate as the only SAN, from the caller's credential;
// sidecars read it back from a verified peer certificate. It names the peer; headers never do.
import type { X509Certificate } from 'node:crypto';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

export interface PeerIdentity {
  /** spiffe://td/ns/NS/sa/SA */
  readonly uri: string;
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** Kubernetes names: DNS subdomains (service accounts) and labels (namespaces), lower case. */
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const TRUST_DOMAIN = /^[a-z0-9]([-a-z0-9.]{0,253}[a-z0-9])?$/;

export function isIdentityName(name: string): boolean {
  return NAME.test(name);
}

export function formatSpiffe(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

const SPIFFE = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/;

/** The identity a SPIFFE URI names, or undefined when it is not in the mesh's form. */
export function parseSpiffe(uri: string): PeerIdentity | undefined {
  const m = SPIFFE.exec(uri);
  if (m === null) return undefined;
  const [, trustDomain, namespace, serviceAccount] = m as unknown as [string, string, string, string];
  if (!TRUST_DOMAIN.test(trustDomain) || !NAME.test(namespace) || !NAME.test(serviceAccount)) return undefined;
  return { uri, trustDomain, namespace, serviceAccount };
}

/**
 * The server name (SNI) a caller sends to a sidecar whose identity it expects. On a connection that
 * iptables redirected to the inbound listener it tells mesh mTLS from the app's own TLS, which is
 * passed through untouched (Linkerd does the same).
 */
export function meshServerName(id: PeerIdentity): string {
  return `${id.serviceAccount}.${id.namespace}.serviceaccount.identity.petrel.${id.trustDomain}`;
}

/**
 * The URI SANs of a certificate. Node prints them as `URI:value`, JSON-quoting a value that holds a
 * comma or quote, joined by ", ".
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (subjectAltName === undefined || subjectAltName === '') return [];
  const out: string[] = [];
  let i = 0;
  while (i < subjectAltName.length) {
    const colon = subjectAltName.indexOf(':', i);
    if (colon < 0) break;
    const type = subjectAltName.slice(i, colon);
    let value: string;
    let next: number;
    if (subjectAltName[colon + 1] === '"') {
      // A quoted value: find the closing quote that is not escaped.
      let j = colon + 2;
      while (j < subjectAltName.length && subjectAltName[j] !== '"') j += subjectAltName[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(subjectAltName.slice(colon + 1, j + 1)) as string;
      } catch {
        return out;
      }
      next = subjectAltName.indexOf(', ', j);
    } else {
      next = subjectAltName.indexOf(', ', colon);
      value = subjectAltName.slice(colon + 1, next < 0 ? undefined : next);
    }
    if (type === 'URI') out.push(value);
    if (next < 0) break;
    i = next + 2;
  }
  return out;
}

/** The mesh identity a certificate carries: exactly one URI SAN in SPIFFE form, else undefined. */
export function identityOfCertificate(cert: Pick<X509Certificate, 'subjectAltName'>): PeerIdentity | undefined {
  const uris = uriSans(cert.subjectAltName);
  return uris.length === 1 ? parseSpiffe(uris[0] as string) : undefined;
}
