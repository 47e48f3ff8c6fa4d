// The issue type every validator returns and the machinery that turns ajv's errors and the checks a
// schema cannot express into issues with a field path (spec.rules[1].backendRefs[1].weight) and a
// message: shared by api/validate.ts (policies, snapshots) and api/route-validate.ts (routes).
import type { ErrorObject } from 'ajv';
import { checkDurationLimits } from './duration-limits.ts';
import { DURATION_PATTERN, parseDuration } from './duration.ts';
import { GATEWAY_DURATION_PATTERN, MESSAGES_KEYWORD } from './http-route-schema.ts';

export interface ValidationIssue {
  /** Dotted field path from the document root, e.g. "spec.retry.backoff.base". */
  path: string;
  /** The path as segments, for locating it in a YAML document. */
  segments: (string | number)[];
  message: string;
}

/** A compiled validator: ajv's generated code, precompiled by api/generate-validators.ts. */
export interface CompiledValidator {
  (data: unknown): boolean;
  errors?: ErrorObject[] | null;
}
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

export function fromAjv(validate: CompiledValidator, base: (string | number)[], root?: unknown): ValidationIssue[] {
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

export function checkDurationOrder(
  issues: ValidationIssue[], at: (string | number)[], low: string | undefined, high: string | undefined,
  lowName: string, highName: string, zeroHighIsNone = false,
): void {
  if (low === undefined || high === undefined) return;
  if (zeroHighIsNone && parseDuration(high) === 0) return; // a total of "0s" is no timeout at all
  if (parseDuration(low) > parseDuration(high)) {
    const segments = [...at, lowName];
    issues.push({ path: joinPath(segments), segments, message: `must not exceed ${highName} (${low} > ${high})` });
  }
}

/** Durations above their field's limit (a timer would fire at once), located like schema issues. */
export function durationLimitIssues(schema: unknown, doc: unknown): ValidationIssue[] {
  return checkDurationLimits(schema, doc).map(({ segments, message }) => ({ path: joinPath(segments), segments, message }));
}

export function push(issues: ValidationIssue[], segments: (string | number)[], message: string): void {
  issues.push({ path: joinPath(segments), segments, message });
}
