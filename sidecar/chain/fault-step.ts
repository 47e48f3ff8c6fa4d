// Step: fault injection for chaos tests. An abort answers with the configured status (FI); a
// delay (DI) parks the exchange on the clock and continues it unless the client left meanwhile.
import type { FaultInjector } from '../policy/fault.ts';
import type { Exchange, Resumable } from '../proxy/exchange.ts';
import { ProxyError } from '../proxy/flags.ts';
import { reject } from './reject.ts';
import type { ChainEnvironment, Step } from './step.ts';

export class FaultStep implements Step, Resumable {
  readonly #env: ChainEnvironment;
  readonly #injector: FaultInjector;
  readonly #next: Step;

  constructor(env: ChainEnvironment, injector: FaultInjector, next: Step) {
    this.#env = env;
    this.#injector = injector;
    this.#next = next;
  }

  run(exchange: Exchange): void {
    const fault = this.#injector.decide();
    if (fault.kind === 'none') return this.#next.run(exchange);
    if (fault.kind === 'abort') {
      reject(this.#env, exchange, new ProxyError('FI', 'aborted by fault injection', fault.status), 'fault_abort');
      return;
    }
    exchange.setFlag('DI');
    exchange.explain?.delay(fault.ms);
    exchange.parked = this;
    this.#env.clock.setTimeout(wake, fault.ms, exchange);
  }

  resume(exchange: Exchange): void {
    if (!exchange.gone) this.#next.run(exchange);
  }
}

function wake(exchange: Exchange): void {
  exchange.granted();
}
