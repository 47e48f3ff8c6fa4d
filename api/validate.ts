// Schema and semantic validation, shared by `petrel validate`, the webhook, the control plane and
// the sidecar. Every issue names the field path (services[0].policy.retry.attempts) and what was
// expected; api/yaml-source.ts adds the file and line where the document came from a file.
// The schemas are compiled at build time (api/generated/validators.ts, checked against the schema
// sources by a test): compiling them with ajv at start-up cost every sidecar ~16 MB of RSS.
import type { ErrorObject } from 'ajv';
import { checkDurationLimits } from './duration-limits.ts';
import { DURATION_PATTERN, parseDuration } from './duration.ts';
import * as validators from './generated/validators.ts';
import { grpcRouteDocumentSchema } from './grpc-route-schema.ts';
import { GATEWAY_DURATION_PATTERN, httpRouteDocumentSchema, MESSAGES_KEYWORD } from './http-route-schema.ts';
import { policyDocumentSchema } from './schemas.ts';
import { snapshotSchema } from './snapshot-schema.ts';
import type { AccessRuleSpec, GrpcRouteFilter, GrpcRouteSpec, HttpHeaderFilter, HttpPathModifier, HttpRouteBackendRef, HttpRouteFilter, HttpRouteSpec, PolicySpec, RoutingSpec, Snapshot } from './types.ts';

export interface ValidationIssue {
  /** Dotted field path from the document root, e.g. "spec.retry.backoff.base". */
  path: string;
  /** The path as segments, for locating it in a YAML document. */
  segments: (string | number)[];
  message: string;
}

/** A compiled validator: ajv's generated code, precompiled by api/generate-validators.ts. */
interface CompiledValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}
const snapshotValidator = validators.validateSnapshot as CompiledValidator;
const policyDocumentValidator = validators.validatePolicyDocument as CompiledValidator;
const accessPolicyDocumentValidator = validators.validateAccessPolicyDocument as CompiledValidator;
const httpRouteDocumentValidator = validators.validateHttpRouteDocument as CompiledValidator;
const grpcRouteDocumentValidator = validators.validateGrpcRouteDocument as CompiledValidator;

export function joinPath(segments: readonly (string | number)[]): string {
  let out = '';
  for (const s of segments) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`;
  return out;
}

function pointerToSegments(pointer: string): (string | number)[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((raw) => {
    const s = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    return /^[0-9]+$/.test(s) ? Number(s) : s;
  });
}

function describe(error: ErrorObject): { extra?: string; message: string } {
  const p = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      return { extra: String(p.additionalProperty), message: 'is not a known field' };
    case 'required':
      return { extra: String(p.missingProperty), message: 'is required' };
    case 'enum':
      return { message: `must be one of: ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    case 'pattern':
      if (p.pattern === DURATION_PATTERN) return { message: 'must be a duration such as "250ms", "2s" or "5m"' };
      if (p.pattern === GATEWAY_DURATION_PATTERN) {
        return { message: `must be a Gateway API duration such as "10s", "500ms", "1h" or "0s" (${GATEWAY_DURATION_PATTERN})` };
      }
      return { message: `must match ${String(p.pattern)}` };
    case 'type':
      return { message: `must be ${String(p.type)}` };
    default:
      return { message: error.message ?? error.keyword };
  }
}

/**
 * The message the schema itself gives for this error (MESSAGES_KEYWORD on the node the error's
 * schemaPath names), keyed by keyword, or "required:<field>" / "additionalProperties:<field>".
 */
function schemaMessage(root: unknown, error: ErrorObject, extra: string | undefined): string | undefined {
  if (root === undefined || !error.schemaPath.startsWith('#/')) return undefined;
  const path = error.schemaPath.slice(2).split('/');
  path.pop(); // the keyword
  let node: unknown = root;
  for (const raw of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  const messages = (node as Record<string, unknown> | undefined)?.[MESSAGES_KEYWORD] as Record<string, string> | undefined;
  if (messages === undefined) return undefined;
  return messages[extra === undefined ? error.keyword : `${error.keyword}:${extra}`];
}

function fromAjv(validate: CompiledValidator, base: (string | number)[], root?: unknown): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    const described = describe(error);
    const { extra } = described;
    const message = schemaMessage(root, error, extra) ?? described.message;
    const segments = [...base, ...pointerToSegments(error.instancePath), ...(extra === undefined ? [] : [extra])];
    const path = joinPath(segments);
    const key = `${path}\0${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push({ path, segments, message });
  }
  return issues;
}

function checkDurationOrder(
  issues: ValidationIssue[], at: (string | number)[], low: string | undefined, high: string | undefined,
  lowName: string, highName: string,
): void {
  if (low === undefined || high === undefined) return;
  if (parseDuration(low) > parseDuration(high)) {
    const segments = [...at, lowName];
    issues.push({ path: joinPath(segments), segments, message: `must not exceed ${highName} (${low} > ${high})` });
  }
}

/** Durations above their field's limit (a timer would fire at once), located like schema issues. */
function durationLimitIssues(schema: unknown, doc: unknown): ValidationIssue[] {
  return checkDurationLimits(schema, doc).map(({ segments, message }) => ({ path: joinPath(segments), segments, message }));
}

/** What a schema cannot say: orderings between fields, unique route names. */
export function checkPolicySemantics(policy: PolicySpec, at: (string | number)[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const backoff = policy.retry?.backoff;
  checkDurationOrder(issues, [...at, 'retry', 'backoff'], backoff?.base, backoff?.max, 'base', 'max');
  const cb = policy.circuitBreaker;
  checkDurationOrder(issues, [...at, 'circuitBreaker'], cb?.openFor, cb?.maxOpenFor, 'openFor', 'maxOpenFor');
  checkDurationOrder(issues, [...at, 'timeout'], policy.timeout?.perTry, policy.timeout?.total, 'perTry', 'total');
  const names = new Map<string, number>();
  policy.routes?.forEach((route, i) => {
    const first = names.get(route.name);
    if (first !== undefined) {
      const segments = [...at, 'routes', i, 'name'];
      issues.push({ path: joinPath(segments), segments, message: `duplicates routes[${first}].name "${route.name}"` });
    } else names.set(route.name, i);
    const rb = route.retry?.backoff;
    checkDurationOrder(issues, [...at, 'routes', i, 'retry', 'backoff'], rb?.base, rb?.max, 'base', 'max');
  });
  return issues;
}

function checkDuplicates(issues: ValidationIssue[], at: (string | number)[], values: readonly string[] | undefined): void {
  const first = new Map<string, number>();
  values?.forEach((v, i) => {
    const j = first.get(v);
    if (j === undefined) first.set(v, i);
    else {
      const segments = [...at, i];
      issues.push({ path: joinPath(segments), segments, message: `duplicates [${j}] "${v}"` });
    }
  });
}

/**
 * What the access schema cannot say: an empty `from` or `to` (omit it to match anything; an empty
 * one would read as "nobody" to some and "anybody" to others) and duplicate entries.
 */
export function checkAccessRules(rules: readonly AccessRuleSpec[] | undefined, at: (string | number)[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  rules?.forEach((rule, i) => {
    const from = rule.from;
    if (from !== undefined && from.serviceAccounts === undefined && from.namespaces === undefined) {
      const segments = [...at, i, 'from'];
      issues.push({ path: joinPath(segments), segments, message: 'must list serviceAccounts or namespaces (omit from to allow every caller)' });
    }
    const to = rule.to;
    if (to !== undefined && to.paths === undefined && to.methods === undefined) {
      const segments = [...at, i, 'to'];
      issues.push({ path: joinPath(segments), segments, message: 'must list paths or methods (omit to to allow every request)' });
    }
    checkDuplicates(issues, [...at, i, 'from', 'serviceAccounts'], from?.serviceAccounts);
    checkDuplicates(issues, [...at, i, 'from', 'namespaces'], from?.namespaces);
    checkDuplicates(issues, [...at, i, 'to', 'paths'], to?.paths);
    checkDuplicates(issues, [...at, i, 'to', 'methods'], to?.methods);
  });
  return issues;
}

/** Validates a sidecar snapshot: schema first, then semantics on a document of the right shape. */
export function validateSnapshot(doc: unknown): ValidationIssue[] {
  if (!snapshotValidator(doc)) return fromAjv(snapshotValidator, [], snapshotSchema);
  const snapshot = doc as unknown as Snapshot;
  const issues = durationLimitIssues(snapshotSchema, doc);
  const owners = new Map<string, string>();
  snapshot.services.forEach((service, i) => {
    if (service.policy) issues.push(...checkPolicySemantics(service.policy, ['services', i, 'policy']));
    const id = `${service.name}.${service.namespace}`;
    for (const [j, host] of [id, ...(service.hosts ?? [])].entries()) {
      const owner = owners.get(host.toLowerCase());
      if (owner !== undefined && owner !== id) {
        const segments = j === 0 ? ['services', i, 'name'] : ['services', i, 'hosts', j - 1];
        issues.push({ path: joinPath(segments), segments, message: `host "${host}" already belongs to service ${owner}` });
      }
      owners.set(host.toLowerCase(), id);
    }
  });
  snapshot.services.forEach((service, i) => {
    if (service.routing) issues.push(...checkRoutingSemantics(service.routing, ['services', i, 'routing']));
    // A port listed twice would make "which endpoints take a call on it" depend on list order.
    const ports = new Map<number, number>();
    service.ports?.forEach((p, j) => {
      const first = ports.get(p.port);
      if (first !== undefined) issues.push({ path: joinPath(['services', i, 'ports', j, 'port']), segments: ['services', i, 'ports', j, 'port'], message: `duplicates ports[${first}].port ${p.port}` });
      else ports.set(p.port, j);
      if (p.routing) issues.push(...checkRoutingSemantics(p.routing, ['services', i, 'ports', j, 'routing']));
    });
  });
  if (snapshot.inbound?.policy) issues.push(...checkPolicySemantics(snapshot.inbound.policy, ['inbound', 'policy']));
  issues.push(...checkAccessRules(snapshot.inbound?.access?.rules, ['inbound', 'access', 'rules']));
  return issues;
}

/** Validates one ResiliencePolicy document. */
export function validatePolicyDocument(doc: unknown): ValidationIssue[] {
  if (!policyDocumentValidator(doc)) return fromAjv(policyDocumentValidator, []);
  const spec = (doc as unknown as { spec: PolicySpec }).spec;
  return [...durationLimitIssues(policyDocumentSchema, doc), ...checkPolicySemantics(spec, ['spec'])];
}

/** Validates one AccessPolicy document. */
export function validateAccessPolicyDocument(doc: unknown): ValidationIssue[] {
  if (!accessPolicyDocumentValidator(doc)) return fromAjv(accessPolicyDocumentValidator, []);
  return checkAccessRules((doc as { spec: { rules?: AccessRuleSpec[] } }).spec.rules, ['spec', 'rules']);
}

/** A snapshot's routing: every match names a rule that exists; rule retries and timeouts in order. */
export function checkRoutingSemantics(routing: RoutingSpec, at: (string | number)[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  routing.matches.forEach((m, i) => {
    if (m.rule >= routing.rules.length) {
      const segments = [...at, 'matches', i, 'rule'];
      issues.push({ path: joinPath(segments), segments, message: `names rule ${m.rule}, but there are ${routing.rules.length} rules` });
    }
  });
  routing.rules.forEach((rule, i) => {
    const rb = rule.retry?.backoff;
    checkDurationOrder(issues, [...at, 'rules', i, 'retry', 'backoff'], rb?.base, rb?.max, 'base', 'max');
    checkDurationOrder(issues, [...at, 'rules', i, 'timeout'], rule.timeout?.perTry, rule.timeout?.total, 'perTry', 'total');
  });
  return issues;
}

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

function push(issues: ValidationIssue[], segments: (string | number)[], message: string): void {
  issues.push({ path: joinPath(segments), segments, message });
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

/** What the HTTPRoute schema cannot say: the spec's CEL rules, and what Petrel does not implement yet. */
export function checkHttpRouteSemantics(doc: HttpRouteDocument): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const namespace = doc.metadata.namespace ?? 'default';
  const spec = doc.spec;
  checkParentRefs(issues, spec.parentRefs, namespace);
  const names = new Map<string, number>();
  let totalMatches = 0;
  spec.rules?.forEach((rule, r) => {
    const at = ['spec', 'rules', r];
    checkRuleName(issues, names, rule.name, r);
    totalMatches += rule.matches?.length ?? 1;
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
  checkMatchTotal(issues, totalMatches);
  return issues;
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
  const issues: ValidationIssue[] = [];
  const namespace = doc.metadata.namespace ?? 'default';
  const spec = doc.spec;
  checkParentRefs(issues, spec.parentRefs, namespace);
  const names = new Map<string, number>();
  let totalMatches = 0;
  spec.rules?.forEach((rule, r) => {
    const at = ['spec', 'rules', r];
    checkRuleName(issues, names, rule.name, r);
    totalMatches += rule.matches?.length ?? 1;
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
  checkMatchTotal(issues, totalMatches);
  return issues;
}

/** Validates one GRPCRoute document (gateway.networking.k8s.io/v1). */
export function validateGrpcRouteDocument(doc: unknown): ValidationIssue[] {
  if (!grpcRouteDocumentValidator(doc)) return fromAjv(grpcRouteDocumentValidator, [], grpcRouteDocumentSchema);
  return checkGrpcRouteSemantics(doc as GrpcRouteDocument);
}
