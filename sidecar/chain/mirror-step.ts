// Step (an HTTPRoute rule's RequestMirror): a copy of the request goes to another service, fire and
// forget. The copy never slows or fails the real call: it is sent only when the body is already in
// hand (none, or buffered: the rule's body step buffers up to 64 KiB when it mirrors), it is dropped
// when MAX_MIRRORS_IN_FLIGHT copies are still out, its answer is read and thrown away, and any error
// is counted, never raised. `percent` of requests are mirrored.
import type { Dispatcher } from 'undici';
import type { CallTarget } from '../balancer/call-target.ts';
import type { Random } from '../policy/clock.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { ProxyError } from '../proxy/flags.ts';
import type { Step } from './step.ts';

/** Copies out at once per mirror target; past it a copy is dropped (counted as "dropped"). */
export const MAX_MIRRORS_IN_FLIGHT = 64;
/** A copy whose answer has not come by then is abandoned. */
const MIRROR_TIMEOUT_MS = 10_000;

export type MirrorResult = 'sent' | 'failed' | 'dropped' | 'skipped';

export interface Mirror {
  readonly name: string;
  readonly target: CallTarget;
  readonly percent: number;
  readonly count: (result: MirrorResult) => void;
}

export class MirrorStep implements Step {
  readonly #mirrors: readonly (Mirror & { inFlight: number })[];
  readonly #random: Random;
  readonly #next: Step;

  constructor(mirrors: readonly Mirror[], random: Random, next: Step) {
    this.#mirrors = mirrors.map((m) => ({ ...m, inFlight: 0 }));
    this.#random = random;
    this.#next = next;
  }

  run(exchange: Exchange): void {
    for (const mirror of this.#mirrors) {
      if (mirror.percent < 100 && this.#random.next() * 100 >= mirror.percent) continue;
      this.#send(mirror, exchange);
    }
    this.#next.run(exchange);
  }

  #send(mirror: Mirror & { inFlight: number }, exchange: Exchange): void {
    const body = exchange.body;
    if (body.kind === 'stream' || body.kind === 'replay' || exchange.upgrade !== undefined) return mirror.count('skipped');
    if (mirror.inFlight >= MAX_MIRRORS_IN_FLIGHT) return mirror.count('dropped');
    const destination = mirror.target.next(undefined);
    if (destination instanceof ProxyError) return mirror.count('failed');
    mirror.inFlight++;
    const options: Dispatcher.DispatchOptions = {
      method: exchange.method as Dispatcher.HttpMethod, path: exchange.path, headers: [...exchange.headers],
      body: body.kind === 'buffered' ? body.data : null, headersTimeout: MIRROR_TIMEOUT_MS, bodyTimeout: MIRROR_TIMEOUT_MS,
      ...(destination.origin === undefined ? {} : { origin: destination.origin }),
    };
    // (The pools are undici's bare dispatchers: dispatch() with a handler that reads and drops the answer.)
    let done = false;
    const finish = (result: MirrorResult) => {
      if (done) return;
      done = true;
      mirror.inFlight--;
      mirror.count(result);
    };
    let status = 0;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: () => {},
      onResponseStart: (_controller, statusCode) => { status = statusCode; },
      onResponseData: () => {},
      onResponseEnd: () => finish(status >= 500 ? 'failed' : 'sent'),
      onResponseError: () => finish('failed'),
    };
    try {
      destination.dispatcher.dispatch(options, handler);
    } catch {
      finish('failed');
    }
  }
}
