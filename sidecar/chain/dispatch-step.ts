// The last step: the retry loop of one request (proxy-call.ts), or for an Upgrade request the
// tunnel attempt (upgrade-attempt.ts). What it needs besides the request is fixed per route and
// built once per snapshot: the call target, timeouts, retry policy and counters.
import type { Timeouts } from '../config/compiled.ts';
import type { CallTarget } from '../balancer/call-target.ts';
import type { RetryPolicy } from '../policy/retry-policy.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { UpgradeAttempt } from '../proxy/upgrade-attempt.ts';
import { ProxyCall } from './proxy-call.ts';
import type { ChainEnvironment, Step } from './step.ts';

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

export class DispatchStep implements Step {
  readonly env: ChainEnvironment;
  readonly plan: DispatchPlan;

  constructor(env: ChainEnvironment, plan: DispatchPlan) {
    this.env = env;
    this.plan = plan;
  }

  run(exchange: Exchange): void {
    if (exchange.upgrade !== undefined) new UpgradeAttempt(this.env, exchange, this.plan).start();
    else new ProxyCall(this.env, exchange, this.plan).start();
  }
}
