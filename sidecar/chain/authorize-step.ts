// Step (inbound, first): the AccessPolicy. It runs before the rate limit, so a denied call spends
// no token, and it never reaches the app or a breaker. The caller is who its verified certificate
// says (exchange.peerIdentity, mTLS only), never a header. A denial is 403 RBAC (gRPC:
// PERMISSION_DENIED), counted in petrel_authz_denied_total and marked on the SERVER span.
import type { Exchange } from '../proxy/exchange.ts';
import { ProxyError } from '../proxy/flags.ts';
import { ALLOWED, PLAINTEXT_REFUSED, SCOPE_DENIED, type AccessControl } from '../policy/access-control.ts';
import { reject } from './reject.ts';
import type { ChainEnvironment, Step } from './step.ts';

/** Counts one denial; `peer` is the caller's service account, or undefined for a plaintext caller. */
export type DenialCounter = (peer: string | undefined) => void;

export class AuthorizeStep implements Step {
  readonly #env: ChainEnvironment;
  readonly #access: AccessControl;
  readonly #service: string;
  readonly #denied: DenialCounter;
  readonly #next: Step;

  constructor(env: ChainEnvironment, access: AccessControl, service: string, denied: DenialCounter, next: Step) {
    this.#env = env;
    this.#access = access;
    this.#service = service;
    this.#denied = denied;
    this.#next = next;
  }

  run(exchange: Exchange): void {
    const peer = exchange.tls ? exchange.peerIdentity : undefined;
    const verdict = this.#access.check(exchange.tls, peer, exchange.method, exchange.path, exchange.requestHeaders);
    if (verdict === ALLOWED) {
      this.#next.run(exchange);
      return;
    }
    const caller = peer === undefined ? 'a plaintext caller' : peer.uri;
    const message = verdict === PLAINTEXT_REFUSED
      ? 'mutual TLS is required; plaintext callers are refused'
      : verdict === SCOPE_DENIED
        ? `${caller} is not allowed to make this call to ${this.#service} by the AccessPolicy of the route rule it matches`
        : `${caller} is not allowed to call ${exchange.method} on ${this.#service} by its AccessPolicy`;
    this.#denied(peer?.serviceAccount);
    // (The SERVER span already names the peer: petrel.peer.identity.)
    exchange.span?.setAttribute('petrel.authz.result', verdict === PLAINTEXT_REFUSED ? 'plaintext_refused' : 'denied');
    // Which policy, for the operator's trace; the caller's response does not name it.
    if (verdict === SCOPE_DENIED && this.#access.deniedBy !== undefined) exchange.span?.setAttribute('petrel.authz.policy', this.#access.deniedBy);
    reject(this.#env, exchange, new ProxyError('RBAC', message), 'access_denied');
  }
}
