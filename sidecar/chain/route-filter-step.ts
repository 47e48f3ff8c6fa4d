// Step (an HTTPRoute rule's filters on the way out): RequestHeaderModifier on the headers sent
// upstream, URLRewrite of the path and the authority, and the ResponseHeaderModifier left on the
// exchange for the relay to apply to the upstream's response head. Built once per rule.
import type { RouteFiltersSpec } from '../../api/types.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { HeaderModifier } from '../proxy/header-modifier.ts';
import { setHeader } from '../proxy/headers.ts';
import { modifyPath } from '../routing/path-modifier.ts';
import type { Step } from './step.ts';

export class RouteFilterStep implements Step {
  readonly #request: HeaderModifier | undefined;
  readonly #response: HeaderModifier | undefined;
  readonly #rewrite: RouteFiltersSpec['rewrite'];
  readonly #next: Step;

  constructor(filters: RouteFiltersSpec, next: Step) {
    this.#request = filters.requestHeaders && new HeaderModifier(filters.requestHeaders);
    this.#response = filters.responseHeaders && new HeaderModifier(filters.responseHeaders);
    this.#rewrite = filters.rewrite;
    this.#next = next;
  }

  /** Whether a rule's filters need this step at all. */
  static needed(filters: RouteFiltersSpec | undefined): filters is RouteFiltersSpec {
    return filters !== undefined && (filters.requestHeaders !== undefined || filters.responseHeaders !== undefined || filters.rewrite !== undefined);
  }

  run(exchange: Exchange): void {
    this.#request?.applyToList(exchange.headers);
    exchange.responseHeaders = this.#response;
    const rewrite = this.#rewrite;
    if (rewrite !== undefined) {
      if (rewrite.path !== undefined) exchange.path = modifyPath(rewrite.path, exchange.path, exchange.matchedPrefix);
      if (rewrite.hostname !== undefined) {
        exchange.rewrittenAuthority = rewrite.hostname;
        setHeader(exchange.headers, 'host', rewrite.hostname);
      }
    }
    this.#next.run(exchange);
  }
}
