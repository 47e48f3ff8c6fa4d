// Turns a policy spec (wire format, strings) into policy objects (numbers, buckets, budgets),
// applying the precedence route > service policy > built-in defaults. The control plane has
// already merged the namespace default into the service policy.
import { parseDuration } from '../../api/duration.ts';
import type { CircuitBreakerSpec, FaultSpec, PolicySpec, RetrySpec, RouteSpec, TimeoutSpec } from '../../api/types.ts';
import { Backoff, DEFAULT_BACKOFF } from '../policy/backoff.ts';
import { DEFAULT_BREAKER, type BreakerConfig } from '../policy/circuit-breaker.ts';
import type { Clock, Random } from '../policy/clock.ts';
import { FaultInjector } from '../policy/fault.ts';
import { RetryBudget, DEFAULT_BUDGET } from '../policy/retry-budget.ts';
import { compileConditions, DEFAULT_RETRY_ON, RetryPolicy } from '../policy/retry-policy.ts';
import type { Timeouts } from './compiled.ts';

/** Built-in defaults (DESIGN.md): connect timeout 1s, no per-try or total timeout. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 1000;
/** Without a retry policy, a request that never left (connect failure) is tried once more. */
export const DEFAULT_NEVER_SENT_ATTEMPTS = 2;

export interface PolicyEnvironment {
  clock: Clock;
  random: Random;
}

const ms = (text: string | undefined): number | undefined => (text === undefined ? undefined : parseDuration(text));

/** A zero perTry or total is no timeout ("0s", as the Gateway API says), so a route can lift its Service's. */
const unlessZero = (value: number | undefined): number | undefined => (value === 0 ? undefined : value);

export function compileTimeouts(service: TimeoutSpec | undefined, route?: TimeoutSpec): Timeouts {
  const t = { ...service, ...route };
  return { connectMs: ms(t.connect) ?? DEFAULT_CONNECT_TIMEOUT_MS, perTryMs: unlessZero(ms(t.perTry)), totalMs: unlessZero(ms(t.total)) };
}

/** Supplies the retry budget for given settings (kept across snapshots by the caller). */
export type BudgetSupplier = (ratio: number, minPerSecond: number) => RetryBudget;

export function compileRetry(service: RetrySpec | undefined, route: RetrySpec | undefined, env: PolicyEnvironment, budgetFor?: BudgetSupplier): RetryPolicy {
  const configured = service !== undefined || route !== undefined;
  const r: RetrySpec = {
    ...service, ...route,
    backoff: { ...service?.backoff, ...route?.backoff },
    budget: { ...service?.budget, ...route?.budget },
  };
  const backoff = new Backoff(
    r.backoff?.strategy ?? DEFAULT_BACKOFF.strategy,
    ms(r.backoff?.base) ?? DEFAULT_BACKOFF.baseMs,
    ms(r.backoff?.max) ?? DEFAULT_BACKOFF.maxMs,
    env.random,
  );
  const ratio = r.budget?.ratio ?? DEFAULT_BUDGET.ratio;
  const minPerSecond = r.budget?.minPerSecond ?? DEFAULT_BUDGET.minPerSecond;
  const budget = budgetFor?.(ratio, minPerSecond) ?? new RetryBudget(ratio, minPerSecond, env.clock);
  if (!configured) return new RetryPolicy(DEFAULT_NEVER_SENT_ATTEMPTS, compileConditions(['connect-failure']), backoff, budget, false, false, ['connect-failure']);
  const on = r.on ?? DEFAULT_RETRY_ON;
  return new RetryPolicy(r.attempts ?? 1, compileConditions(on), backoff, budget, r.nonIdempotent ?? false, true, on);
}

export function compileBreaker(spec: CircuitBreakerSpec | undefined): BreakerConfig | undefined {
  if (spec === undefined) return undefined;
  const rate = spec.failureRate;
  const defaults = DEFAULT_BREAKER;
  return {
    consecutiveFailures: spec.consecutiveFailures ?? defaults.consecutiveFailures,
    // The failure-rate trigger applies when the policy configures it; its fields have defaults.
    failureRate: rate === undefined ? undefined : {
      threshold: rate.threshold ?? defaults.failureRate!.threshold,
      windowMs: ms(rate.window) ?? defaults.failureRate!.windowMs,
      minRequests: rate.minRequests ?? defaults.failureRate!.minRequests,
    },
    openForMs: ms(spec.openFor) ?? defaults.openForMs,
    maxOpenForMs: Math.max(ms(spec.maxOpenFor) ?? defaults.maxOpenForMs, ms(spec.openFor) ?? 0),
    halfOpenProbes: spec.halfOpenProbes ?? defaults.halfOpenProbes,
  };
}

export function compileFault(spec: FaultSpec | undefined, env: PolicyEnvironment): FaultInjector | undefined {
  if (spec === undefined || (spec.delay === undefined && spec.abort === undefined)) return undefined;
  return new FaultInjector({
    delay: spec.delay && { ms: parseDuration(spec.delay.duration), percent: spec.delay.percent },
    abort: spec.abort && { status: spec.abort.status, percent: spec.abort.percent },
  }, env.random);
}

/** A route's spec with the service policy underneath it. */
export function routeLayers(policy: PolicySpec | undefined, route: RouteSpec | undefined) {
  return {
    timeout: compileTimeouts(policy?.timeout, route?.timeout),
    retry: [policy?.retry, route?.retry] as const,
    rateLimit: route?.rateLimit,
    fault: route?.fault ?? policy?.fault,
  };
}
