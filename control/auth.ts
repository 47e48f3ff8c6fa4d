// Who is calling the config stream and the certificate endpoint. An authenticator returns the
// caller's principal, which decides the identity a certificate names and which subscription an ACK
// may answer for:
//   local            a shared secret (--token-file) or no check at all: the secret is the local trust
//                    root, so the identity comes from the request's namespace and service account.
//   service-account  in Kubernetes, the sidecar's projected ServiceAccount token, checked with a
//                    TokenReview for the `petrel` audience; the identity is the token's, whatever the
//                    request says. Positive answers are cached for a minute so that reconnect storms
//                    do not hammer the API.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export type Principal =
  | { kind: 'local' }
  | { kind: 'service-account'; namespace: string; serviceAccount: string };

export interface Authenticator {
  /** The caller's principal, or undefined when the request carries no acceptable bearer token. */
  authenticate(req: IncomingMessage): Promise<Principal | undefined>;
}

const LOCAL: Principal = Object.freeze({ kind: 'local' });

export const allowAll: Authenticator = { authenticate: async () => LOCAL };

export function sharedSecret(token: string): Authenticator {
  const expected = Buffer.from(`Bearer ${token}`);
  return {
    authenticate: async (req) => {
      const given = Buffer.from(req.headers.authorization ?? '');
      return given.length === expected.length && timingSafeEqual(given, expected) ? LOCAL : undefined;
    },
  };
}

/** True when both name the same caller: any two local callers hold the one shared secret. */
export function samePrincipal(a: Principal, b: Principal): boolean {
  if (a.kind === 'local' || b.kind === 'local') return a.kind === b.kind;
  return a.namespace === b.namespace && a.serviceAccount === b.serviceAccount;
}

export function describePrincipal(p: Principal): string {
  return p.kind === 'local' ? 'local (shared secret)' : `service account ${p.namespace}/${p.serviceAccount}`;
}

const SA_USERNAME = /^system:serviceaccount:([a-z0-9]([-a-z0-9]*[a-z0-9])?):([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

/** The service account a TokenReview username names; undefined for users, nodes and anything else. */
export function serviceAccountOf(username: string | undefined): Principal | undefined {
  const m = SA_USERNAME.exec(username ?? '');
  return m === null ? undefined : { kind: 'service-account', namespace: m[1] as string, serviceAccount: m[3] as string };
}

/** The audience sidecars' projected tokens are minted for. */
export const TOKEN_AUDIENCE = 'petrel';
const CACHE_MS = 60_000;

export async function tokenReview(kubeconfig: string | undefined, audience = TOKEN_AUDIENCE): Promise<Authenticator> {
  const k8s = await import('@kubernetes/client-node');
  const { loadKubeConfig } = await import('./kube-config.ts');
  const kc = loadKubeConfig(kubeconfig);
  const api = kc.makeApiClient(k8s.AuthenticationV1Api);
  const accepted = new Map<string, { principal: Principal; until: number }>();
  return {
    authenticate: async (req) => {
      const header = req.headers.authorization ?? '';
      if (!header.startsWith('Bearer ')) return undefined;
      const token = header.slice(7);
      const cached = accepted.get(token);
      if (cached !== undefined && cached.until > Date.now()) return cached.principal;
      try {
        const review = await api.createTokenReview({
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [audience] } },
        });
        const ok = review.status?.authenticated === true && (review.status.audiences ?? [audience]).includes(audience);
        // Only ServiceAccount tokens name a workload; a user's token is refused even when valid.
        const principal = ok ? serviceAccountOf(review.status?.user?.username) : undefined;
        if (principal === undefined) return undefined;
        if (accepted.size > 10_000) accepted.clear(); // projected tokens rotate; never grow without bound
        accepted.set(token, { principal, until: Date.now() + CACHE_MS });
        return principal;
      } catch {
        return undefined;
      }
    },
  };
}
