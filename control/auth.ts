// Who may subscribe to the config stream. Locally: a shared secret (--token-file). In Kubernetes:
// the sidecar's projected ServiceAccount token, checked with a TokenReview for the `petrel`
// audience; positive answers are cached for a minute so that reconnect storms do not hammer the API.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export interface Authenticator {
  /** Resolves true when the request carries an acceptable bearer token. */
  check(req: IncomingMessage): Promise<boolean>;
}

export const allowAll: Authenticator = { check: async () => true };

export function sharedSecret(token: string): Authenticator {
  const expected = Buffer.from(`Bearer ${token}`);
  return {
    check: async (req) => {
      const given = Buffer.from(req.headers.authorization ?? '');
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}

/** The audience sidecars' projected tokens are minted for. */
export const TOKEN_AUDIENCE = 'petrel';
const CACHE_MS = 60_000;

export async function tokenReview(kubeconfig: string | undefined, audience = TOKEN_AUDIENCE): Promise<Authenticator> {
  const k8s = await import('@kubernetes/client-node');
  const { loadKubeConfig } = await import('./kube-config.ts');
  const kc = loadKubeConfig(kubeconfig);
  const api = kc.makeApiClient(k8s.AuthenticationV1Api);
  const accepted = new Map<string, number>();
  return {
    check: async (req) => {
      const header = req.headers.authorization ?? '';
      if (!header.startsWith('Bearer ')) return false;
      const token = header.slice(7);
      const until = accepted.get(token);
      if (until !== undefined && until > Date.now()) return true;
      try {
        const review = await api.createTokenReview({
          body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [audience] } },
        });
        const ok = review.status?.authenticated === true && (review.status.audiences ?? [audience]).includes(audience);
        if (ok) accepted.set(token, Date.now() + CACHE_MS);
        return ok;
      } catch {
        return false;
      }
    },
  };
}
