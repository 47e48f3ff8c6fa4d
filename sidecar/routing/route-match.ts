// HTTPRoute matches as the sidecar applies them (Gateway API HTTPRouteMatch): path Exact or
// PathPrefix (by path elements: "/foo" matches "/foo" and "/foo/bar", never "/foobar"), method, and
// Exact header and query-parameter matches. The control plane sends the matches of every rule already
// in the specification's precedence order; the first that matches picks the rule. Compiled once per
// snapshot; a request allocates nothing here unless some match reads the query string.
import type { RouteMatchSpec, RoutingSpec } from '../../api/types.ts';
import type { Exchange } from '../proxy/exchange.ts';

export interface CompiledRouteMatch {
  readonly exact: string | undefined;
  /** Without a trailing "/"; "" for the prefix "/" (everything). */
  readonly prefix: string | undefined;
  readonly method: string | undefined;
  /** [lower-case name, value] */
  readonly headers: readonly (readonly [string, string])[];
  readonly query: readonly (readonly [string, string])[];
  /** The rule it selects (an index into the compiled rules). */
  readonly rule: number;
}

export function compileMatch(spec: RouteMatchSpec, rule: number): CompiledRouteMatch {
  const path = spec.path ?? { type: 'PathPrefix' as const, value: '/' };
  const value = path.value;
  return {
    exact: path.type === 'Exact' ? value : undefined,
    // The specification ignores a trailing "/" of a prefix: "/foo/" matches "/foo" too.
    prefix: path.type === 'PathPrefix' ? value.replace(/\/+$/, '') : undefined,
    method: spec.method,
    headers: (spec.headers ?? []).map((h) => [h.name.toLowerCase(), h.value] as const),
    query: (spec.queryParams ?? []).map((q) => [q.name, q.value] as const),
    rule,
  };
}

export function compileMatches(routing: RoutingSpec): CompiledRouteMatch[] {
  return routing.matches.map((m) => compileMatch(m.match, m.rule));
}

/** Whether `path` (without its query) is `prefix` or lies below it, element by element. */
export function pathHasPrefix(path: string, prefix: string): boolean {
  if (prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === 0x2f;
}

function headerValue(exchange: Exchange, name: string): string | undefined {
  const v = exchange.requestHeaders[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** The first match `exchange` satisfies, or undefined (the service answers 404 NR). */
export function firstMatch(matches: readonly CompiledRouteMatch[], exchange: Exchange): CompiledRouteMatch | undefined {
  const full = exchange.path;
  const q = full.indexOf('?');
  const path = q < 0 ? full : full.slice(0, q);
  let query: URLSearchParams | undefined;
  for (let i = 0; i < matches.length; i++) {
    const m = matches[i] as CompiledRouteMatch;
    if (m.exact !== undefined && path !== m.exact) continue;
    if (m.prefix !== undefined && !pathHasPrefix(path, m.prefix)) continue;
    if (m.method !== undefined && exchange.method !== m.method) continue;
    let ok = true;
    for (let h = 0; h < m.headers.length && ok; h++) {
      const [name, value] = m.headers[h] as readonly [string, string];
      ok = headerValue(exchange, name) === value;
    }
    if (!ok) continue;
    if (m.query.length > 0) {
      query ??= new URLSearchParams(q < 0 ? '' : full.slice(q + 1));
      for (let p = 0; p < m.query.length && ok; p++) {
        const [name, value] = m.query[p] as readonly [string, string];
        ok = query.get(name) === value;
      }
      if (!ok) continue;
    }
    return m;
  }
  return undefined;
}
