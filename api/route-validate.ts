// HTTPRoute and GRPCRoute documents (gateway.networking.k8s.io/v1): the schema, then what it cannot
// say (Gateway API CEL rules, what Petrel refuses by name), every issue with its field path. One path
// for `petrel validate`, the validating webhook and the control plane's sources.
import { parseDuration } from './duration.ts';
import * as validators from './generated/validators.ts';
import { grpcRouteDocumentSchema } from './grpc-route-schema.ts';
import { httpRouteDocumentSchema } from './http-route-schema.ts';
import type { GrpcRouteFilter, GrpcRouteSpec, HttpHeaderFilter, HttpPathModifier, HttpRouteBackendRef, HttpRouteFilter, HttpRouteSpec } from './types.ts';
import { durationLimitIssues, fromAjv, joinPath, push, type CompiledValidator, type ValidationIssue } from './validation-issue.ts';

const httpRouteDocumentValidator = validators.validateHttpRouteDocument as CompiledValidator;
const grpcRouteDocumentValidator = validators.validateGrpcRouteDocument as CompiledValidator;

// ---- HTTPRoute (gateway.networking.k8s.io/v1) ----

/** The field each filter type carries (HTTPRouteFilter: the type names the one field set). */
const FILTER_FIELDS = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
} as const;
const REFERENCE_GRANT = 'cross-namespace backendRefs need a ReferenceGrant, which Petrel does not implement yet';
const SERVICE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface HttpRouteDocument {
  metadata: { name: string; namespace?: string; creationTimestamp?: string };
  spec: HttpRouteSpec;
}

/** A backendRef (or a mirror's): same namespace, and a Service reference names its port (the spec's CEL). */
function checkBackendRef(issues: ValidationIssue[], ref: HttpRouteBackendRef, namespace: string, at: (string | number)[]): void {
  if (ref.namespace !== undefined && ref.namespace !== namespace) push(issues, [...at, 'namespace'], `"${ref.namespace}" is not the route's namespace "${namespace}": ${REFERENCE_GRANT}`);
  if ((ref.group ?? '') === '' && (ref.kind ?? 'Service') === 'Service') {
    if (ref.port === undefined) push(issues, [...at, 'port'], 'is required for a Service reference (Gateway API: "Must have port for Service reference")');
    if (!SERVICE_NAME.test(ref.name) || ref.name.length > 63) push(issues, [...at, 'name'], 'must be a Service name: a DNS label of at most 63 characters (lowercase letters, digits and "-")');
  }
}

/** One action per header name (case-insensitive) across set, add and remove. */
function checkHeaderFilter(issues: ValidationIssue[], filter: HttpHeaderFilter, at: (string | number)[]): void {
  const seen = new Map<string, string>();
  const see = (name: string, where: (string | number)[]) => {
    const first = seen.get(name.toLowerCase());
    if (first !== undefined) push(issues, where, `"${name}" already has an action (${first}): one action per header`);
    else seen.set(name.toLowerCase(), joinPath(where));
  };
  filter.set?.forEach((h, i) => see(h.name, [...at, 'set', i, 'name']));
  filter.add?.forEach((h, i) => see(h.name, [...at, 'add', i, 'name']));
  filter.remove?.forEach((name, i) => see(name, [...at, 'remove', i]));
}

function checkPathModifier(issues: ValidationIssue[], path: HttpPathModifier, at: (string | number)[]): void {
  const full = path.type === 'ReplaceFullPath';
  const wanted = full ? 'replaceFullPath' : 'replacePrefixMatch';
  const other = full ? 'replacePrefixMatch' : 'replaceFullPath';
  if (path[wanted] === undefined) push(issues, [...at, wanted], `is required when type is ${path.type}`);
  if (path[other] !== undefined) push(issues, [...at, other], `must not be set when type is ${path.type}`);
}

/** What the Gateway API's CEL rules say of a path match value (Exact and PathPrefix). */
function pathValueProblem(value: string): string | undefined {
  for (const bad of ['//', '/./', '/../', '%2f', '%2F']) if (value.includes(bad)) return `must not contain "${bad}"`;
  for (const bad of ['/..', '/.']) if (value.endsWith(bad)) return `must not end with "${bad}"`;
  return undefined;
}

/** A route's parentRefs: in the route's namespace (consumer routes are not implemented), no duplicates. */
function checkParentRefs(issues: ValidationIssue[], refs: HttpRouteSpec['parentRefs'], namespace: string): void {
  const parents = new Map<string, number>();
  refs?.forEach((ref, i) => {
    const at = ['spec', 'parentRefs', i];
    if (ref.namespace !== undefined && ref.namespace !== namespace) {
      push(issues, [...at, 'namespace'], `"${ref.namespace}" is not the route's namespace "${namespace}": a route attached to a Service in another namespace (a consumer route, GEP-1324) is not implemented by Petrel yet; put the route in the Service's namespace`);
    }
    const key = `${ref.namespace ?? namespace}/${ref.name}:${ref.sectionName ?? ''}:${ref.port ?? ''}`;
    const first = parents.get(key);
    if (first !== undefined) push(issues, at, `duplicates parentRefs[${first}]: references to the same Service must differ in sectionName or port`);
    else parents.set(key, i);
  });
}

/** GEP-995: a rule's name is unique within its route. */
function checkRuleName(issues: ValidationIssue[], names: Map<string, number>, name: string | undefined, r: number): void {
  if (name === undefined) return;
  const first = names.get(name);
  if (first !== undefined) push(issues, ['spec', 'rules', r, 'name'], `duplicates rules[${first}].name "${name}": rule names must be unique within the route`);
  else names.set(name, r);
}

/** The spec's CEL limit: at most 128 matches across a route's rules (a rule without matches counts one). */
function checkMatchTotal(issues: ValidationIssue[], total: number): void {
  if (total > 128) push(issues, ['spec', 'rules'], `${total} matches in all; a route may have at most 128 across its rules`);
}

/**
 * A filter's field must be the one its type names, and no other; a filter other than RequestMirror
 * may not be repeated in a rule. Returns the filter's field.
 */
function checkFilterShape<T extends string, F extends string>(
  issues: ValidationIssue[], filter: { type: T } & Partial<Record<F, unknown>>, fields: Readonly<Record<T, F>>,
  at: (string | number)[], firstOfType: Map<string, number>, index: number,
): F {
  const field = fields[filter.type];
  for (const [type, other] of Object.entries(fields) as [T, F][]) {
    if (other !== field && filter[other] !== undefined) push(issues, [...at, other], `must not be set when type is ${filter.type} (it belongs to type ${type})`);
  }
  if (filter[field] === undefined) push(issues, [...at, field], `is required when type is ${filter.type}`);
  if (filter.type !== 'RequestMirror') {
    const first = firstOfType.get(filter.type);
    if (first !== undefined) push(issues, [...at, 'type'], `${filter.type} filter cannot be repeated (filters[${first}] is one)`);
    else firstOfType.set(filter.type, index);
  }
  return field;
}

/** A RequestMirror: its backendRef as any other, and percent or fraction, not both. */
function checkMirror(issues: ValidationIssue[], mirror: NonNullable<HttpRouteFilter['requestMirror']>, namespace: string, at: (string | number)[]): void {
  checkBackendRef(issues, mirror.backendRef, namespace, [...at, 'backendRef']);
  if (mirror.percent !== undefined && mirror.fraction !== undefined) push(issues, [...at, 'fraction'], 'must not be set with percent: give one of them');
  const fraction = mirror.fraction;
  if (fraction !== undefined && fraction.numerator > (fraction.denominator ?? 100)) {
    push(issues, [...at, 'fraction', 'numerator'], `must not exceed the denominator (${fraction.numerator} > ${fraction.denominator ?? 100})`);
  }
}

/**
 * What every route kind checks around its rules: the parents, unique rule names (GEP-995) and the
 * total of matches; `checkRule` adds what its kind's rules need, in that rule's place among the issues.
 */
function checkRouteRules<R extends { name?: string; matches?: readonly unknown[] }>(
  doc: { metadata: { namespace?: string }; spec: { parentRefs?: HttpRouteSpec['parentRefs']; rules?: readonly R[] } },
  checkRule: (issues: ValidationIssue[], rule: R, at: (string | number)[], namespace: string) => void,
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const namespace = doc.metadata.namespace ?? 'default';
  checkParentRefs(issues, doc.spec.parentRefs, namespace);
  const names = new Map<string, number>();
  let totalMatches = 0;
  doc.spec.rules?.forEach((rule, r) => {
    checkRuleName(issues, names, rule.name, r);
    totalMatches += rule.matches?.length ?? 1;
    checkRule(issues, rule, ['spec', 'rules', r], namespace);
  });
  checkMatchTotal(issues, totalMatches);
  return issues;
}

/** What the HTTPRoute schema cannot say: the spec's CEL rules, and what Petrel does not implement yet. */
export function checkHttpRouteSemantics(doc: HttpRouteDocument): ValidationIssue[] {
  return checkRouteRules(doc, (issues, rule, at, namespace) => {
    rule.matches?.forEach((match, m) => {
      const value = match.path?.value;
      if (value !== undefined) {
        const problem = pathValueProblem(value);
        if (problem !== undefined) push(issues, [...at, 'matches', m, 'path', 'value'], problem);
      }
      for (const list of ['headers', 'queryParams'] as const) {
        const seen = new Map<string, number>();
        match[list]?.forEach((h, i) => {
          const first = seen.get(h.name);
          if (first !== undefined) push(issues, [...at, 'matches', m, list, i, 'name'], `duplicates ${list}[${first}].name "${h.name}"`);
          else seen.set(h.name, i);
        });
      }
    });
    const firstOfType = new Map<string, number>();
    let redirect: number | undefined;
    rule.filters?.forEach((filter: HttpRouteFilter, f) => {
      const fat = [...at, 'filters', f];
      const field = checkFilterShape(issues, filter, FILTER_FIELDS, fat, firstOfType, f);
      const exclusive = filter.type === 'RequestRedirect' ? 'URLRewrite' : filter.type === 'URLRewrite' ? 'RequestRedirect' : undefined;
      const clash = exclusive === undefined ? undefined : firstOfType.get(exclusive);
      if (clash !== undefined) push(issues, [...fat, 'type'], `may not be combined with the ${exclusive} filter (filters[${clash}]): specify either RequestRedirect or URLRewrite`);
      if (filter.type === 'RequestRedirect' && redirect === undefined) redirect = f;
      const headers = filter.type === 'RequestHeaderModifier' ? filter.requestHeaderModifier : filter.type === 'ResponseHeaderModifier' ? filter.responseHeaderModifier : undefined;
      if (headers !== undefined) checkHeaderFilter(issues, headers, [...fat, field]);
      const path = filter.type === 'RequestRedirect' ? filter.requestRedirect?.path : filter.type === 'URLRewrite' ? filter.urlRewrite?.path : undefined;
      if (path !== undefined) {
        checkPathModifier(issues, path, [...fat, field, 'path']);
        if (path.type === 'ReplacePrefixMatch') {
          // No matches means the default one, PathPrefix "/"; a match without a path or type is PathPrefix too.
          const matches = rule.matches ?? [{ path: { type: 'PathPrefix' as const, value: '/' } }];
          const only = matches.length === 1 ? (matches[0]?.path?.type ?? 'PathPrefix') : undefined;
          if (only !== 'PathPrefix') {
            push(issues, [...fat, field, 'path', 'type'], `ReplacePrefixMatch needs exactly one match, a PathPrefix one; the rule has ${matches.length === 1 ? `one ${only} match` : `${matches.length} matches`}`);
          }
        }
      }
      if (filter.type === 'RequestMirror' && filter.requestMirror !== undefined) checkMirror(issues, filter.requestMirror, namespace, [...fat, field]);
    });
    if (redirect !== undefined && (rule.backendRefs?.length ?? 0) > 0) {
      push(issues, [...at, 'backendRefs'], `must be empty with a RequestRedirect filter (filters[${redirect}]): the redirect is the answer, no backend is called`);
    }
    rule.backendRefs?.forEach((ref, b) => checkBackendRef(issues, ref, namespace, [...at, 'backendRefs', b]));
    const t = rule.timeouts;
    if (t?.request !== undefined && t.backendRequest !== undefined && parseDuration(t.request) !== 0 && parseDuration(t.backendRequest) > parseDuration(t.request)) {
      push(issues, [...at, 'timeouts', 'backendRequest'], `must not exceed request (${t.backendRequest} > ${t.request})`);
    }
  });
}

/** Validates one HTTPRoute document (gateway.networking.k8s.io/v1). */
export function validateHttpRouteDocument(doc: unknown): ValidationIssue[] {
  if (!httpRouteDocumentValidator(doc)) return fromAjv(httpRouteDocumentValidator, [], httpRouteDocumentSchema);
  return [...durationLimitIssues(httpRouteDocumentSchema, doc), ...checkHttpRouteSemantics(doc as HttpRouteDocument)];
}

// ---- GRPCRoute (gateway.networking.k8s.io/v1, GEP-1016) ----

interface GrpcRouteDocument {
  metadata: { name: string; namespace?: string; creationTimestamp?: string };
  spec: GrpcRouteSpec;
}

const GRPC_FILTER_FIELDS = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestMirror: 'requestMirror',
} as const;

/**
 * What the GRPCRoute schema cannot say: the spec's CEL rules (one of service and method; a filter's
 * field matches its type; header modifiers not repeated; at most 128 matches), unique rule names, and
 * what Petrel does not implement yet: a method match without a service (the sidecar matches a call by
 * its path, /<service>/<method>, and a method alone is no one path match).
 */
export function checkGrpcRouteSemantics(doc: GrpcRouteDocument): ValidationIssue[] {
  return checkRouteRules(doc, (issues, rule, at, namespace) => {
    rule.matches?.forEach((match, m) => {
      const method = match.method;
      if (method !== undefined) {
        if (method.service === undefined && method.method === undefined) push(issues, [...at, 'matches', m, 'method'], 'must give service, method or both (One or both of \'service\' or \'method\' must be specified)');
        else if (method.service === undefined) push(issues, [...at, 'matches', m, 'method', 'service'], 'is required: a method match without service is not supported yet (Petrel matches a call by its path, /<service>/<method>)');
      }
      // Header names are case-insensitive: "foo" and "Foo" are the same header (the spec keeps the first).
      const seen = new Map<string, number>();
      match.headers?.forEach((h, i) => {
        const first = seen.get(h.name.toLowerCase());
        if (first !== undefined) push(issues, [...at, 'matches', m, 'headers', i, 'name'], `duplicates headers[${first}].name "${h.name}"`);
        else seen.set(h.name.toLowerCase(), i);
      });
    });
    const firstOfType = new Map<string, number>();
    rule.filters?.forEach((filter: GrpcRouteFilter, f) => {
      const fat = [...at, 'filters', f];
      const field = checkFilterShape(issues, filter, GRPC_FILTER_FIELDS, fat, firstOfType, f);
      const headers = filter.type === 'RequestHeaderModifier' ? filter.requestHeaderModifier : filter.type === 'ResponseHeaderModifier' ? filter.responseHeaderModifier : undefined;
      if (headers !== undefined) checkHeaderFilter(issues, headers, [...fat, field]);
      if (filter.type === 'RequestMirror' && filter.requestMirror !== undefined) checkMirror(issues, filter.requestMirror, namespace, [...fat, field]);
    });
    rule.backendRefs?.forEach((ref, b) => checkBackendRef(issues, ref, namespace, [...at, 'backendRefs', b]));
  });
}

/** Validates one GRPCRoute document (gateway.networking.k8s.io/v1). */
export function validateGrpcRouteDocument(doc: unknown): ValidationIssue[] {
  if (!grpcRouteDocumentValidator(doc)) return fromAjv(grpcRouteDocumentValidator, [], grpcRouteDocumentSchema);
  return checkGrpcRouteSemantics(doc as GrpcRouteDocument);
}
