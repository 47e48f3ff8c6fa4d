// An AccessPolicy's `inbound.access`, compiled once per snapshot into sets the request path only
// looks up: no string is built and nothing is allocated per request. A rule allows a call when its
// `from` (any of its service accounts, or any service account of its namespaces) and its `to` (a
// path prefix and a method) both match; a missing from or to matches anything. Rules absent: every
// caller is allowed; rules present, even none: only what a rule allows. A plaintext caller has no
// identity, so only rules without `from` can allow it.
//
// Scopes (AccessPolicies that target a route rule, policy/access-scope.ts) come on top: a call inside
// a scope must also pass one of the scope's rules. An opaque TCP connection has no path, so it is
// inside every scope.
import type { IncomingHttpHeaders } from 'node:http';
import type { AccessRuleSpec, AccessSpec } from '../../api/types.ts';
import type { PeerIdentity } from '../identity/spiffe.ts';
import { compileScopes, inScope, type CompiledScope } from './access-scope.ts';

export const ALLOWED = 0;
/** `mtls: strict` and the call came in plaintext. */
export const PLAINTEXT_REFUSED = 1;
/** Rules are present and none allows the call. */
export const NO_RULE_MATCHED = 2;
/** The call is inside a route rule's scope and none of that scope's rules allows it. */
export const SCOPE_DENIED = 3;
export type AccessVerdict = typeof ALLOWED | typeof PLAINTEXT_REFUSED | typeof NO_RULE_MATCHED | typeof SCOPE_DENIED;

interface CompiledRule {
  /** undefined: any caller, plaintext included. */
  readonly from: {
    /** namespace -> service accounts of it named by the rule. */
    readonly accounts: ReadonlyMap<string, ReadonlySet<string>>;
    readonly namespaces: ReadonlySet<string>;
  } | undefined;
  /** undefined: any path. */
  readonly paths: readonly string[] | undefined;
  /** undefined: any method. */
  readonly methods: ReadonlySet<string> | undefined;
}

function compileRule(rule: AccessRuleSpec, selfNamespace: string): CompiledRule {
  let from: CompiledRule['from'];
  if (rule.from !== undefined) {
    const accounts = new Map<string, Set<string>>();
    for (const entry of rule.from.serviceAccounts ?? []) {
      // "name" is a service account of the protected service's own namespace.
      const slash = entry.indexOf('/');
      const ns = slash < 0 ? selfNamespace : entry.slice(0, slash);
      const sa = slash < 0 ? entry : entry.slice(slash + 1);
      let set = accounts.get(ns);
      if (set === undefined) accounts.set(ns, (set = new Set()));
      set.add(sa);
    }
    from = { accounts, namespaces: new Set(rule.from.namespaces ?? []) };
  }
  return { from, paths: rule.to?.paths, methods: rule.to?.methods === undefined ? undefined : new Set(rule.to.methods) };
}

/**
 * True when a path is not in the one plain form a prefix can judge: dot segments, a backslash or a
 * percent-encoded "/", "\" or "." before the query. An app that normalizes "/v1/../admin" into
 * "/admin" would otherwise be reached through a rule that allows only "/v1/"; such a path matches no
 * path prefix (fail closed) and is allowed only by a rule without paths.
 */
export function isAmbiguousPath(path: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x5c) return true; // backslash
    if (c === 0x25 && i + 2 < end) {
      const a = path.charCodeAt(i + 1);
      const b = path.charCodeAt(i + 2) | 0x20;
      // %2f %2F %2e %2E %5c %5C
      if ((a === 0x32 && (b === 0x66 || b === 0x65)) || (a === 0x35 && b === 0x63)) return true;
    }
    if (c === 0x2e && path.charCodeAt(i - 1) === 0x2f) {
      // "/." followed by "/", "?" or the end, or "/.." followed by one of those.
      const n = i + 1 < end ? path.charCodeAt(i + 1) : 0x2f;
      if (n === 0x2f) return true;
      if (n === 0x2e && (i + 2 >= end || path.charCodeAt(i + 2) === 0x2f)) return true;
    }
  }
  return false;
}

export class AccessControl {
  readonly strict: boolean;
  /** undefined: rules absent, every caller allowed (mtls permitting). */
  readonly #rules: readonly CompiledRule[] | undefined;
  readonly #scopes: readonly CompiledScope<CompiledRule>[];
  /** The scope that denied the last call (read right after a check, for the denial message). */
  deniedBy: string | undefined;

  constructor(spec: AccessSpec, selfNamespace: string) {
    this.strict = spec.mtls === 'strict';
    this.#rules = spec.rules?.map((r) => compileRule(r, selfNamespace));
    this.#scopes = compileScopes(spec.scoped ?? [], (r) => compileRule(r, selfNamespace));
  }

  /** Nothing to enforce: permissive, no rules, no scopes. */
  get allowsAll(): boolean {
    return !this.strict && this.#rules === undefined && this.#scopes.length === 0;
  }

  /**
   * Whether an opaque TCP connection passes (mesh mTLS carrying a non-HTTP protocol). It has no
   * method or path, so only rules without `to` can allow it, by the caller's identity, and it is
   * inside every scope.
   */
  checkConnection(tls: boolean, peer: PeerIdentity | undefined): AccessVerdict {
    if (this.strict && !tls) return PLAINTEXT_REFUSED;
    if (this.#rules !== undefined && !connectionAllowed(this.#rules, tls, peer)) return NO_RULE_MATCHED;
    for (const scope of this.#scopes) {
      if (connectionAllowed(scope.rules, tls, peer)) continue;
      this.deniedBy = scope.source;
      return SCOPE_DENIED;
    }
    return ALLOWED;
  }

  /** Whether a call passes. `path` is origin-form: `rules` ignore its query, scopes may read it. */
  check(tls: boolean, peer: PeerIdentity | undefined, method: string, path: string, headers?: IncomingHttpHeaders): AccessVerdict {
    if (this.strict && !tls) return PLAINTEXT_REFUSED;
    const q = path.indexOf('?');
    const end = q < 0 ? path.length : q;
    if (this.#rules !== undefined && !callAllowed(this.#rules, tls, peer, method, path, end)) return NO_RULE_MATCHED;
    if (this.#scopes.length === 0) return ALLOWED;
    const ambiguous = isAmbiguousPath(path, end);
    for (const scope of this.#scopes) {
      if (!inScope(scope, method, path, end, ambiguous, headers ?? {})) continue;
      if (callAllowed(scope.rules, tls, peer, method, path, end)) continue;
      this.deniedBy = scope.source;
      return SCOPE_DENIED;
    }
    return ALLOWED;
  }
}

/** An identity counts only over mTLS (the listener sets it from a verified certificate). */
function fromMatches(rule: CompiledRule, tls: boolean, peer: PeerIdentity | undefined): boolean {
  const from = rule.from;
  if (from === undefined) return true;
  if (peer === undefined || !tls) return false;
  return from.namespaces.has(peer.namespace) || from.accounts.get(peer.namespace)?.has(peer.serviceAccount) === true;
}

/** Whether one of `rules` allows an opaque connection: only rules without `to` can. */
function connectionAllowed(rules: readonly CompiledRule[], tls: boolean, peer: PeerIdentity | undefined): boolean {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i] as CompiledRule;
    if (rule.methods === undefined && rule.paths === undefined && fromMatches(rule, tls, peer)) return true;
  }
  return false;
}

/** Whether one of `rules` allows a call. */
function callAllowed(rules: readonly CompiledRule[], tls: boolean, peer: PeerIdentity | undefined, method: string, path: string, end: number): boolean {
  // Computed at most once, and only when a rule has paths: -1 unknown, 0 plain, 1 ambiguous.
  let ambiguous = -1;
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i] as CompiledRule;
    if (!fromMatches(rule, tls, peer)) continue;
    if (rule.methods !== undefined && !rule.methods.has(method)) continue;
    const paths = rule.paths;
    if (paths !== undefined) {
      if (ambiguous < 0) ambiguous = isAmbiguousPath(path, end) ? 1 : 0;
      if (ambiguous === 1 || !matchesPrefix(paths, path, end)) continue;
    }
    return true;
  }
  return false;
}

function matchesPrefix(prefixes: readonly string[], path: string, end: number): boolean {
  for (let i = 0; i < prefixes.length; i++) {
    const prefix = prefixes[i] as string;
    // The prefix must lie within the path, not reach into the query.
    if (prefix.length <= end && path.startsWith(prefix)) return true;
  }
  return false;
}
