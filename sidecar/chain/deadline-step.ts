// Step (inbound): the caller's deadline. Timeouts belong to the caller, as in Envoy: the calling
// sidecar applies its route's total and perTry and sends the time it has left
// (x-petrel-deadline-ms); this sidecar ends the request when that time is up, whatever its own
// service policy says. A caller outside the mesh sends no deadline and gets this service's own
// (route-matched) timeouts.
import type { Exchange } from '../proxy/exchange.ts';
import { ProxyError } from '../proxy/flags.ts';
import { reject } from './reject.ts';
import type { ChainEnvironment, Step } from './step.ts';

export class DeadlineStep implements Step {
  readonly #env: ChainEnvironment;
  readonly #next: Step;

  constructor(env: ChainEnvironment, next: Step) {
    this.#env = env;
    this.#next = next;
  }

  run(exchange: Exchange): void {
    const deadline = exchange.callerDeadlineMs;
    if (deadline !== undefined) {
      if (deadline <= 0) {
        reject(this.#env, exchange, new ProxyError('UT', 'the caller\'s deadline has already passed'), 'deadline_passed');
        return;
      }
      exchange.totalMs = deadline;
    }
    this.#next.run(exchange);
  }
}
