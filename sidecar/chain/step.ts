// The request path's middle is a chain of small steps, built once per route per snapshot:
//   rate limit -> concurrency -> fault -> body -> dispatch (retry loop -> balancer -> attempt)
// A step either hands the exchange to the next or answers it through reject(). A step that must
// wait (a queue, a delay, a body) parks the exchange and continues it later; nothing but the
// exchange itself is allocated per request. HTTP/1.1 requests and Upgrades pass the same steps, and
// so will HTTP/2 streams: a step sees only the Exchange.
import type { Logger } from 'pino';
import type { Clock, Random } from '../policy/clock.ts';
import type { Exchange } from '../proxy/exchange.ts';
import type { Tracing } from '../telemetry/tracing.ts';
import type { TlsObserver } from '../upstream/tls-dial.ts';

export interface Step {
  run(exchange: Exchange): void;
}

/** What steps need from the running sidecar; `tracing` is set once tracing has started. */
export interface ChainEnvironment {
  readonly clock: Clock;
  readonly random: Random;
  readonly log: Logger;
  /** True once the sidecar is draining: responses close their connections. */
  readonly draining: () => boolean;
  tracing: Tracing | undefined;
  /** Where mesh mTLS handshakes of tunnels are counted (the pools have their own reference). */
  readonly tlsObserver?: TlsObserver;
}

/** Links steps in order; each step's constructor takes the next. */
export function chain(steps: readonly ((next: Step) => Step | undefined)[], last: Step): Step {
  let next = last;
  for (let i = steps.length - 1; i >= 0; i--) next = (steps[i] as (next: Step) => Step | undefined)(next) ?? next;
  return next;
}
