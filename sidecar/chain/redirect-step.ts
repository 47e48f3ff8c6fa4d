// Step (terminal, an HTTPRoute rule's RequestRedirect): the caller's sidecar answers the redirect
// itself and no backend is called. Scheme, hostname, port and path default to the request's own;
// a port that is the scheme's default is left out of Location, as the specification says.
import type { RouteFiltersSpec } from '../../api/types.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { modifyPath } from '../routing/path-modifier.ts';
import { parseAuthority } from '../routing/request-target.ts';
import type { Step } from './step.ts';

type Redirect = NonNullable<RouteFiltersSpec['redirect']>;

const DEFAULT_PORT: Record<string, number> = { http: 80, https: 443 };

export class RedirectStep implements Step {
  readonly #redirect: Redirect;

  constructor(redirect: Redirect) {
    this.#redirect = redirect;
  }

  run(exchange: Exchange): void {
    exchange.redirect(this.#redirect.statusCode, this.location(exchange));
  }

  location(exchange: Exchange): string {
    const r = this.#redirect;
    const requested = parseAuthority(exchange.authority);
    const scheme = r.scheme ?? 'http';
    const host = r.hostname ?? requested?.host ?? '';
    // An explicit port wins; a scheme given without a port uses that scheme's default; otherwise the
    // request's own port.
    const port = r.port ?? (r.scheme !== undefined ? undefined : requested?.port);
    const showPort = port !== undefined && port !== DEFAULT_PORT[scheme];
    const path = r.path === undefined ? exchange.path : modifyPath(r.path, exchange.path, exchange.matchedPrefix);
    const hostPart = host.includes(':') ? `[${host}]` : host;
    return `${scheme}://${hostPart}${showPort ? `:${port}` : ''}${path}`;
  }
}
