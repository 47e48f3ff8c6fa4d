// When a failed attempt may be retried. Conditions follow Envoy's: `5xx` and `gateway-error` also
// cover attempts that got no response (connect failure, reset, per-try timeout). Safety comes first:
// a request that may have reached the upstream is resent only if its method is idempotent, or the
// policy says `nonIdempotent: true`, and only if its body was buffered for replay.
import type { Backoff } from './backoff.ts';
import type { RetryBudget } from './retry-budget.ts';

export const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Request bodies up to this size are buffered so that a retry can resend them; larger ones never are. */
export const MAX_REPLAY_BODY_BYTES = 64 * 1024;

/** Why an attempt failed, as the retry decision and the retry metric's `reason` label see it. */
export type FailureKind = 'connect-failure' | 'reset' | 'timeout' | 'status' | 'grpc';

export interface RetryConditions {
  connectFailure: boolean;
  reset: boolean;
  /** Per-try timeouts (and, with them, every no-response failure). */
  timeout: boolean;
  statuses: ReadonlySet<number>;
  /** gRPC status codes (cancelled, deadline-exceeded, internal, resource-exhausted, unavailable). */
  grpcStatuses: ReadonlySet<number>;
}

/** The gRPC retry conditions and the status each names (Envoy's retry_on for gRPC). */
export const GRPC_RETRY_CONDITIONS: Readonly<Record<string, number>> = {
  'cancelled': 1, 'deadline-exceeded': 4, 'resource-exhausted': 8, 'internal': 13, 'unavailable': 14,
};

/** `on` as given when a policy names none: connect failures, resets and 502/503/504. */
export const DEFAULT_RETRY_ON = ['connect-failure', 'reset', 'gateway-error'];

export function compileConditions(on: readonly string[]): RetryConditions {
  const statuses = new Set<number>();
  const grpcStatuses = new Set<number>();
  let connectFailure = false;
  let reset = false;
  let timeout = false;
  for (const c of on) {
    if (c === 'connect-failure') connectFailure = true;
    else if (c === 'reset') reset = true;
    else if (c === 'gateway-error') {
      connectFailure = reset = timeout = true;
      [502, 503, 504].forEach((s) => statuses.add(s));
    } else if (c === '5xx') {
      connectFailure = reset = timeout = true;
      for (let s = 500; s < 600; s++) statuses.add(s);
    } else if (c === 'retriable-4xx') statuses.add(409);
    else if (GRPC_RETRY_CONDITIONS[c] !== undefined) grpcStatuses.add(GRPC_RETRY_CONDITIONS[c] as number);
    else statuses.add(Number(c));
  }
  return { connectFailure, reset, timeout, statuses, grpcStatuses };
}

export class RetryPolicy {
  /** Total tries, the first included. */
  readonly attempts: number;
  readonly conditions: RetryConditions;
  readonly backoff: Backoff;
  readonly budget: RetryBudget;
  readonly nonIdempotent: boolean;
  /** False for the built-in never-sent retry: running out of it is reported with the failure's own flag, not URX. */
  readonly configured: boolean;
  /** The conditions as the policy named them (`retry.on`), for explanations. */
  readonly on: readonly string[];

  constructor(attempts: number, conditions: RetryConditions, backoff: Backoff, budget: RetryBudget, nonIdempotent: boolean, configured = true, on: readonly string[] = []) {
    this.attempts = attempts;
    this.conditions = conditions;
    this.backoff = backoff;
    this.budget = budget;
    this.nonIdempotent = nonIdempotent;
    this.configured = configured;
    this.on = on;
  }

  retriesStatus(status: number): boolean {
    return this.conditions.statuses.has(status);
  }

  retriesGrpcStatus(status: number): boolean {
    return this.conditions.grpcStatuses.has(status);
  }

  /** Whether any gRPC status is retried: only then is a gRPC response held back to read its status. */
  get retriesGrpc(): boolean {
    return this.conditions.grpcStatuses.size > 0;
  }

  retriesFailure(kind: FailureKind): boolean {
    const c = this.conditions;
    return kind === 'connect-failure' ? c.connectFailure : kind === 'reset' ? c.reset : kind === 'timeout' ? c.timeout : false;
  }

  /** Whether resending cannot duplicate a side effect the policy has not allowed. */
  maySend(method: string, neverSent: boolean): boolean {
    return neverSent || this.nonIdempotent || IDEMPOTENT_METHODS.has(method);
  }
}

/** Retry-After as milliseconds from now: delta-seconds or an HTTP date; undefined when absent or bad. */
export function parseRetryAfter(value: string | string[] | undefined, nowEpochMs: number): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text === '') return undefined;
  if (/^[0-9]+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowEpochMs);
}
