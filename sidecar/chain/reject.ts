// The one way a step answers a request itself: the flag on the exchange, the policy counter, the
// span event and the flagged local reply, always together.
import type { Exchange } from '../proxy/exchange.ts';
import type { ProxyError } from '../proxy/flags.ts';
import type { ChainEnvironment } from './step.ts';

/** The span event and counter of each decision a step can make. */
export type Decision = 'rate_limited' | 'overflow' | 'circuit_open' | 'fault_abort' | 'deadline_passed' | 'no_endpoint' | 'no_route' | 'loop' | 'bad_request' | 'access_denied';

export function reject(env: ChainEnvironment, exchange: Exchange, error: ProxyError, decision: Decision, extraHeaders?: Record<string, string>): void {
  const counters = exchange.counters;
  if (counters !== undefined) {
    if (decision === 'rate_limited') counters.rateLimited();
    else if (decision === 'overflow') counters.overflow();
  }
  const tracing = env.tracing;
  if (tracing !== undefined) {
    if (exchange.span !== undefined) exchange.span.addEvent(decision);
    else {
      tracing.decision({ parentHeaders: exchange.requestHeaders, method: exchange.method, path: exchange.path, serverAddress: exchange.authority, serverPort: undefined },
        decision, error.flag, error.status);
    }
  }
  exchange.explain?.decision(decision, error.flag, error.status);
  exchange.reply(error.flag, error.message, error.status, extraHeaders);
}
