// The largest value of each duration field, enforced. A duration is a string ("600h") to JSON
// Schema, so its pattern cannot bound it; the schema names each field's limit under
// MAX_DURATION_KEYWORD and this walk checks a document against it. Without the bound a policy such
// as `timeout.total: 600h` passed validation and then broke every request: Node fires a timer of
// 2^31 ms or more after 1 ms, so the sidecar answered 504 at once.
import { exceedsMaximum, parseDuration } from './duration.ts';
import { MAX_DURATION_KEYWORD } from './policy-schema.ts';

export interface DurationLimitIssue {
  segments: (string | number)[];
  message: string;
}

type SchemaNode = Record<string, unknown>;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Walks `doc` along `schema` and reports every duration above its field's limit. Call it on a
 * document that already passed the schema, so every duration string parses.
 */
export function checkDurationLimits(schema: unknown, doc: unknown, at: (string | number)[] = []): DurationLimitIssue[] {
  const issues: DurationLimitIssue[] = [];
  walk(schema, doc, at, issues);
  return issues;
}

function walk(schema: unknown, value: unknown, at: (string | number)[], issues: DurationLimitIssue[]): void {
  if (!isRecord(schema)) return;
  const node: SchemaNode = schema;
  const limit = node[MAX_DURATION_KEYWORD];
  if (typeof limit === 'string' && typeof value === 'string') {
    const message = exceedsMaximum(value, parseDuration(value), parseDuration(limit));
    if (message !== undefined) issues.push({ segments: at, message });
    return;
  }
  if (isRecord(node.properties) && isRecord(value)) {
    for (const [key, child] of Object.entries(node.properties)) {
      if (key in value) walk(child, value[key], [...at, key], issues);
    }
  }
  if (node.items !== undefined && Array.isArray(value)) {
    value.forEach((item, i) => walk(node.items, item, [...at, i], issues));
  }
}
