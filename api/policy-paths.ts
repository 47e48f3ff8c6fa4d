// A policy body as field paths ("retry.backoff.base") and values, at the granularity the merge uses:
// timeout, retry, retry.backoff, retry.budget, circuitBreaker, concurrency and loadBalancer merge field
// by field, and every other value (rateLimit, fault, routes, a breaker's failureRate) is replaced whole,
// so it is one path. The control plane records a source per path (control/policy-index.ts), and the
// sidecar's /config_dump lists the values by the same paths.
export const MERGED_FIELDS: ReadonlySet<string> = new Set(['timeout', 'retry', 'retry.backoff', 'retry.budget', 'circuitBreaker', 'concurrency', 'loadBalancer']);

export function policyLeaves(value: object, prefix = ''): [string, unknown][] {
  const out: [string, unknown][] = [];
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (MERGED_FIELDS.has(path) && typeof v === 'object' && v !== null) out.push(...policyLeaves(v as object, path));
    else out.push([path, v]);
  }
  return out;
}
