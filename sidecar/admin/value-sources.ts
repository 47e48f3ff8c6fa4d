// Why a value is what it is: the effective policy of a service, or of one of its route rules, as
// field paths with their values and where each came from — built-in, a namespace default, the
// service's ResiliencePolicy, an HTTPRoute rule, a ResiliencePolicy on the route or on the rule. The
// control plane sends the sources with the snapshot (`policySources`, a rule's `sources`); this only
// lays them over the built-in defaults, for /config_dump. Never on the request path.
import { policyLeaves } from '../../api/policy-paths.ts';
import type { PolicySpec, RouteRuleSpec } from '../../api/types.ts';
import { DEFAULT_BACKOFF } from '../policy/backoff.ts';
import { DEFAULT_CONCURRENCY } from '../policy/concurrency-limiter.ts';
import { DEFAULT_BUDGET } from '../policy/retry-budget.ts';
import { DEFAULT_RETRY_ON } from '../policy/retry-policy.ts';
import { DEFAULT_PANIC_THRESHOLD } from '../balancer/call-target.ts';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../config/compile-policy.ts';

export interface SourcedValue {
  value: unknown;
  source: string;
}

const BUILT_IN = 'built-in';

/** The built-in defaults (DESIGN.md), by the same paths as a policy's fields. */
const DEFAULTS: readonly [string, unknown][] = [
  ['timeout.connect', `${DEFAULT_CONNECT_TIMEOUT_MS}ms`],
  ['timeout.perTry', 'none'],
  ['timeout.total', 'none'],
  ['retry.attempts', 'no retry policy: only a call that never left (connect failure) is tried once more'],
  ['retry.on', DEFAULT_RETRY_ON],
  ['retry.backoff.strategy', DEFAULT_BACKOFF.strategy],
  ['retry.backoff.base', `${DEFAULT_BACKOFF.baseMs}ms`],
  ['retry.backoff.max', `${DEFAULT_BACKOFF.maxMs}ms`],
  ['retry.budget.ratio', DEFAULT_BUDGET.ratio],
  ['retry.budget.minPerSecond', DEFAULT_BUDGET.minPerSecond],
  ['circuitBreaker', 'none'],
  ['rateLimit', 'none'],
  ['concurrency.maxRequests', DEFAULT_CONCURRENCY.maxRequests],
  ['concurrency.maxPending', DEFAULT_CONCURRENCY.maxPending],
  ['loadBalancer.policy', 'ewma'],
  ['loadBalancer.panicThreshold', DEFAULT_PANIC_THRESHOLD],
  ['fault', 'none'],
];

/** Sets `path`, dropping what it replaces: the same path, its parts, or the whole it is part of. */
function set(into: Map<string, SourcedValue>, path: string, value: SourcedValue): void {
  for (const key of [...into.keys()]) if (key === path || key.startsWith(`${path}.`) || path.startsWith(`${key}.`)) into.delete(key);
  into.set(path, value);
}

/**
 * The effective values with their sources: built-in, then the service's policy, then (for a rule)
 * the rule's own layer. `routes` (the shorthand) is left out: /config_dump lists routes apart.
 */
export function sourcedValues(policy: PolicySpec | undefined, policySources: Record<string, string> | undefined, rule?: RouteRuleSpec): Record<string, SourcedValue> {
  const out = new Map<string, SourcedValue>();
  for (const [path, value] of DEFAULTS) out.set(path, { value, source: BUILT_IN });
  const { routes: _shorthand, ...body } = policy ?? {};
  for (const [path, value] of policyLeaves(body)) set(out, path, { value, source: policySources?.[path] ?? 'the snapshot' });
  if (rule !== undefined) {
    const { timeout, retry, rateLimit, fault } = rule;
    for (const [path, value] of policyLeaves({ timeout, retry, rateLimit, fault })) set(out, path, { value, source: rule.sources?.[path] ?? rule.source });
  }
  return Object.fromEntries([...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
