// The last step: the retry loop of one request (proxy-call.ts), or for an Upgrade request the
// tunnel attempt (upgrade-attempt.ts). What it needs besides the request is fixed per route and
// built once per snapshot: the call target, timeouts, retry policy and counters.
import type { Exchange } from '../proxy/exchange.ts';
import { UpgradeAttempt } from './upgrade-attempt.ts';
import type { DispatchPlan } from './dispatch-plan.ts';
import { ProxyCall } from './proxy-call.ts';
import type { ChainEnvironment, Step } from './step.ts';

export type { DispatchPlan } from './dispatch-plan.ts';

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
