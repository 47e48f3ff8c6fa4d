// The scopes of AccessPolicies that target a route rule (control/routing/access-scope.ts), as the
// callee's sidecar checks them: a call inside a scope must also be allowed by one of its rules. Inside
// is judged generously, because a request the matcher reads one way and the app another would be a
// way around the policy: a path with dot segments or encoded slashes is inside every scope, repeated
// and trailing slashes are ignored, and a header or query parameter given twice is inside when any of
// its values matches. Compiled once per snapshot; a request allocates only when a scope reads the query.
import type { AccessRuleSpec, RouteMatchSpec, ScopedAccessSpec } from '../../api/types.ts';
import type { IncomingHttpHeaders } from 'node:http';
import { pathHasPrefix } from '../routing/route-match.ts';

interface ScopeMatch {
  /** Without trailing slashes; "" for the prefix "/". */
  readonly exact: string | undefined;
  readonly prefix: string | undefined;
  readonly method: string | undefined;
  readonly headers: readonly (readonly [string, string])[];
  readonly query: readonly (readonly [string, string])[];
}

export interface CompiledScope<R> {
  readonly source: string;
  readonly matches: readonly ScopeMatch[];
  readonly rules: readonly R[];
}

const trimSlashes = (path: string): string => path.replace(/\/+$/, '');

function compileScopeMatch(spec: RouteMatchSpec): ScopeMatch {
  const path = spec.path ?? { type: 'PathPrefix' as const, value: '/' };
  const value = trimSlashes(path.value.replace(/\/{2,}/g, '/'));
  return {
    exact: path.type === 'Exact' ? value : undefined,
    prefix: path.type === 'PathPrefix' ? value : undefined,
    method: spec.method,
    headers: (spec.headers ?? []).map((h) => [h.name.toLowerCase(), h.value] as const),
    query: (spec.queryParams ?? []).map((q) => [q.name, q.value] as const),
  };
}

export function compileScopes<R>(scoped: readonly ScopedAccessSpec[], compileRule: (rule: AccessRuleSpec) => R): CompiledScope<R>[] {
  return scoped.map((s) => ({ source: s.source, matches: s.matches.map(compileScopeMatch), rules: s.rules.map(compileRule) }));
}

function headerMatches(headers: IncomingHttpHeaders, name: string, value: string): boolean {
  const v = headers[name];
  if (v === undefined) return false;
  if (typeof v === 'string') return v === value || (v.includes(',') && v.split(',').some((part) => part.trim() === value));
  return v.includes(value) || v.join(',') === value;
}

/**
 * Whether a call is inside the scope. `path` is origin-form (query included); `ambiguous` says it has
 * dot segments or encoded separators (access-control.ts isAmbiguousPath), which puts it inside.
 */
export function inScope(scope: CompiledScope<unknown>, method: string, path: string, end: number, ambiguous: boolean, headers: IncomingHttpHeaders): boolean {
  let plain: string | undefined;
  let query: URLSearchParams | undefined;
  for (let i = 0; i < scope.matches.length; i++) {
    const m = scope.matches[i] as ScopeMatch;
    if (!ambiguous) {
      if (m.exact !== undefined || (m.prefix !== undefined && m.prefix !== '')) {
        plain ??= trimSlashes(path.slice(0, end).replace(/\/{2,}/g, '/'));
        if (m.exact !== undefined && plain !== m.exact) continue;
        if (m.prefix !== undefined && !pathHasPrefix(plain, m.prefix)) continue;
      }
    }
    if (m.method !== undefined && method !== m.method) continue;
    let ok = true;
    for (let h = 0; h < m.headers.length && ok; h++) {
      const [name, value] = m.headers[h] as readonly [string, string];
      ok = headerMatches(headers, name, value);
    }
    if (!ok) continue;
    if (m.query.length > 0) {
      query ??= new URLSearchParams(end === path.length ? '' : path.slice(end + 1));
      for (let p = 0; p < m.query.length && ok; p++) {
        const [name, value] = m.query[p] as readonly [string, string];
        ok = query.getAll(name).includes(value);
      }
      if (!ok) continue;
    }
    return true;
  }
  return false;
}
