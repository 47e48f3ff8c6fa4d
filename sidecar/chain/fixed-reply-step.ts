// Step (terminal): a rule that can send nowhere answers locally. An HTTPRoute rule whose backendRefs
// cannot be resolved answers 500 (Gateway API), flag NC (Envoy's "no cluster").
import type { Exchange } from '../proxy/exchange.ts';
import { ProxyError } from '../proxy/flags.ts';
import { reject } from './reject.ts';
import type { ChainEnvironment, Step } from './step.ts';

export class FixedReplyStep implements Step {
  readonly #env: ChainEnvironment;
  readonly #error: ProxyError;

  constructor(env: ChainEnvironment, error: ProxyError) {
    this.#env = env;
    this.#error = error;
  }

  run(exchange: Exchange): void {
    reject(this.#env, exchange, this.#error, 'no_route');
  }
}
