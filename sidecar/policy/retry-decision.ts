// Whether a failed attempt is tried again, and after how long: one pure function of the attempt's
// outcome, the request and the clock (as Envoy's RetryState and linkerd's is_retryable), kept apart
// from the loop that sends attempts so that every rule can be tested on a fake clock. The only
// state it touches is the retry budget, and only when every other rule said yes.
import type { FailureKind, RetryPolicy } from './retry-policy.ts';

/** How an attempt ended, as the retry decision sees it. */
export type AttemptResult =
  | { readonly kind: 'status'; readonly status: number; readonly retryAfterMs: number | undefined }
  /** A gRPC status the server answered with; `pushbackMs` from grpc-retry-pushback-ms ('never': do not retry). */
  | { readonly kind: 'grpc'; readonly status: number; readonly pushbackMs: number | 'never' | undefined }
  | { readonly kind: Exclude<FailureKind, 'status' | 'grpc'>; readonly neverSent: boolean };

export interface RetryRequest {
  /** Attempts made so far, the failed one included. */
  readonly attempts: number;
  readonly method: string;
  /** Whether the body can be sent again (absent or buffered). */
  readonly replayable: boolean;
  /** Clock time now, and the total deadline (Infinity for none). */
  readonly now: number;
  readonly deadline: number;
}

export type RetryDecision =
  | { readonly retry: true; readonly delayMs: number; readonly reason: string }
  | { readonly retry: false; readonly why: NoRetryReason };

export type NoRetryReason = 'condition' | 'attempts' | 'unsafe' | 'body' | 'deadline' | 'budget';

const NO: Record<NoRetryReason, RetryDecision> = {
  condition: { retry: false, why: 'condition' },
  attempts: { retry: false, why: 'attempts' },
  unsafe: { retry: false, why: 'unsafe' },
  body: { retry: false, why: 'body' },
  deadline: { retry: false, why: 'deadline' },
  budget: { retry: false, why: 'budget' },
};

export function decideRetry(policy: RetryPolicy, result: AttemptResult, request: RetryRequest): RetryDecision {
  let reason: string;
  let neverSent = false;
  let retryAfterMs = 0;
  // A gRPC status is the server's own answer that the call failed in a way the policy calls
  // retryable; gRPC calls are all POST, so method safety is the policy's choice of conditions
  // (as in Envoy's gRPC retry_on), and the server's pushback overrides the backoff.
  let pushbackMs: number | undefined;
  if (result.kind === 'grpc') {
    if (!policy.retriesGrpcStatus(result.status) || result.pushbackMs === 'never') return NO.condition;
    reason = `grpc-${result.status}`;
    pushbackMs = result.pushbackMs;
    neverSent = true;
  } else if (result.kind === 'status') {
    if (!policy.retriesStatus(result.status)) return NO.condition;
    reason = String(result.status);
    retryAfterMs = result.retryAfterMs ?? 0;
  } else {
    if (!policy.retriesFailure(result.kind)) return NO.condition;
    reason = result.kind;
    neverSent = result.neverSent;
  }
  if (request.attempts >= policy.attempts) return NO.attempts;
  if (!policy.maySend(request.method, neverSent)) return NO.unsafe;
  if (!request.replayable) return NO.body;
  const { now, deadline } = request;
  // A server that asks to wait past the deadline will not be asked again in time.
  if (now + retryAfterMs >= deadline) return NO.deadline;
  if (pushbackMs !== undefined && now + pushbackMs >= deadline) return NO.deadline;
  if (!policy.budget.tryRetry()) return NO.budget;
  const wait = pushbackMs ?? Math.max(policy.backoff.delay(request.attempts), retryAfterMs);
  const delayMs = Math.min(wait, Math.max(0, deadline - now));
  return { retry: true, delayMs, reason };
}
