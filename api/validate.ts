// Schema and semantic validation, shared by `petrel validate`, the webhook, the control plane and
// the sidecar. Every issue names the field path (services[0].policy.retry.attempts) and what was
// expected; api/yaml-source.ts adds the file and line where the document came from a file.
// The schemas are compiled at build time (api/generated/validators.ts, checked against the schema
// sources by a test): compiling them with ajv at start-up cost every sidecar ~16 MB of RSS.
import type { ErrorObject } from 'ajv';
import { checkDurationLimits } from './duration-limits.ts';
import { DURATION_PATTERN, parseDuration } from './duration.ts';
import * as validators from './generated/validators.ts';
import { policyDocumentSchema } from './schemas.ts';
import { snapshotSchema } from './snapshot-schema.ts';
import type { AccessRuleSpec, PolicySpec, Snapshot } from './types.ts';

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
      return { message: `must match ${String(p.pattern)}` };
    case 'type':
      return { message: `must be ${String(p.type)}` };
    default:
      return { message: error.message ?? error.keyword };
  }
}

function fromAjv(validate: CompiledValidator, base: (string | number)[]): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    const { extra, message } = describe(error);
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
  if (!snapshotValidator(doc)) return fromAjv(snapshotValidator, []);
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
