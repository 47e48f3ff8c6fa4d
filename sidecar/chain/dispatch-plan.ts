// What the last step needs besides the request, fixed per route and built once per snapshot.
import type { Timeouts } from '../config/compiled.ts';
import type { CallTarget } from '../balancer/call-target.ts';
import type { RetryPolicy } from '../policy/retry-policy.ts';

export interface DispatchPlan {
  readonly target: CallTarget;
  readonly timeouts: Timeouts;
  /** undefined: one attempt, no retries. */
  readonly retry: RetryPolicy | undefined;
  /** Send the remaining total time to the next hop (x-petrel-deadline-ms): sidecar to sidecar only. */
  readonly propagateDeadline: boolean;
  /** A CLIENT span per attempt (outbound); inbound requests have their SERVER span instead. */
  readonly traceAttempts: boolean;
}
