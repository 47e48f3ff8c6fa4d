// Schema and semantic validation, shared by `petrel validate`, the webhook, the control plane and
// the sidecar. Every issue names the field path (services[0].policy.retry.attempts) and what was
// expected; api/yaml-source.ts adds the file and line where the document came from a file.
// The schemas are compiled at build time (api/generated/validators.ts, checked against the schema
// sources by a test): compiling them with ajv at start-up cost every sidecar ~16 MB of RSS.
import { policyDocumentSchema } from './schemas.ts';
import { snapshotSchema } from './snapshot-schema.ts';
import * as validators from './generated/validators.ts';
import { checkAccessPolicyTarget, checkResiliencePolicyTarget } from './target-ref-check.ts';
import type { AccessPolicySpec, AccessRuleSpec, PolicySpec, ResiliencePolicySpec, RoutingSpec, Snapshot } from './types.ts';
import { checkDurationOrder, durationLimitIssues, fromAjv, joinPath, type CompiledValidator, type ValidationIssue } from './validation-issue.ts';

export { joinPath, type ValidationIssue } from './validation-issue.ts';
export { checkGrpcRouteSemantics, checkHttpRouteSemantics, validateGrpcRouteDocument, validateHttpRouteDocument } from './route-validate.ts';

const snapshotValidator = validators.validateSnapshot as CompiledValidator;
const policyDocumentValidator = validators.validatePolicyDocument as CompiledValidator;
const accessPolicyDocumentValidator = validators.validateAccessPolicyDocument as CompiledValidator;

/** What a schema cannot say: orderings between fields, unique route names. */
export function checkPolicySemantics(policy: PolicySpec, at: (string | number)[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const backoff = policy.retry?.backoff;
  checkDurationOrder(issues, [...at, 'retry', 'backoff'], backoff?.base, backoff?.max, 'base', 'max');
  const cb = policy.circuitBreaker;
  checkDurationOrder(issues, [...at, 'circuitBreaker'], cb?.openFor, cb?.maxOpenFor, 'openFor', 'maxOpenFor');
  checkDurationOrder(issues, [...at, 'timeout'], policy.timeout?.perTry, policy.timeout?.total, 'perTry', 'total', true);
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
  snapshot.inbound?.access?.scoped?.forEach((scope, i) => issues.push(...checkAccessRules(scope.rules, ['inbound', 'access', 'scoped', i, 'rules'])));
  return issues;
}

/** Validates one ResiliencePolicy document. */
export function validatePolicyDocument(doc: unknown): ValidationIssue[] {
  if (!policyDocumentValidator(doc)) return fromAjv(policyDocumentValidator, []);
  const spec = (doc as unknown as { spec: ResiliencePolicySpec }).spec;
  return [...checkResiliencePolicyTarget(spec), ...durationLimitIssues(policyDocumentSchema, doc), ...checkPolicySemantics(spec, ['spec'])];
}

/** Validates one AccessPolicy document. */
export function validateAccessPolicyDocument(doc: unknown): ValidationIssue[] {
  if (!accessPolicyDocumentValidator(doc)) return fromAjv(accessPolicyDocumentValidator, []);
  const spec = (doc as { spec: AccessPolicySpec }).spec;
  return [...checkAccessPolicyTarget(spec), ...checkAccessRules(spec.rules, ['spec', 'rules'])];
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
    checkDurationOrder(issues, [...at, 'rules', i, 'timeout'], rule.timeout?.perTry, rule.timeout?.total, 'perTry', 'total', true);
  });
  return issues;
}
