// One request/response pair as it crosses the sidecar: what the pipeline decided (flags), where it
// went, and the bookkeeping done once when the downstream response closes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { StreamMetrics } from '../telemetry/metrics.ts';
import type { Span } from '@opentelemetry/api';
import { NO_FLAGS, type Flag } from './flags.ts';

export interface ExchangeObserver {
  /** Called once, when the downstream response has finished or the client went away. */
  onExchangeDone(exchange: Exchange): void;
}

export class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly startedAt = performance.now();
  requestId = '';
  metrics: StreamMetrics | undefined;
  flags: string = NO_FLAGS;
  /** The endpoint of the last attempt, for logs. */
  upstream = '';
  attempts = 0;
  /** The SERVER span of an inbound request, when tracing is on. */
  span: Span | undefined;
  /** The upstream attempt in progress, to cancel when the client goes away. */
  attempt: { abort(reason: Error): void } | undefined;
  readonly #observer: ExchangeObserver;
  #cutByProxy = false;
  #onDone: ((arg: never) => void) | undefined;
  #onDoneArg: unknown;

  constructor(req: IncomingMessage, res: ServerResponse, observer: ExchangeObserver) {
    this.req = req;
    this.res = res;
    this.#observer = observer;
    (res as ExchangeResponse)[EXCHANGE] = this;
    res.on('close', onResponseClose);
  }

  /** Adds a flag once (a retried request can fail the same way twice). */
  setFlag(flag: Flag): void {
    if (this.flags === NO_FLAGS) this.flags = flag;
    else if (!this.flags.split(',').includes(flag)) this.flags = `${this.flags},${flag}`;
  }

  /** Runs `callback(arg)` once the exchange is over (one callback; used to release a concurrency slot). */
  onDone<T>(callback: (arg: T) => void, arg: T): void {
    this.#onDone = callback as (arg: never) => void;
    this.#onDoneArg = arg;
  }

  /** Ends a response that already started (its upstream failed): the client sees the stream cut. */
  cut(): void {
    this.#cutByProxy = true;
    this.res.destroy();
  }

  get durationSeconds(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  /** True when the client went away before the response was complete. */
  get downstreamClosed(): boolean {
    return !this.res.writableFinished;
  }

  /** Called once when the downstream response closes, finished or not. */
  closed(): void {
    if (!this.res.writableFinished && !this.#cutByProxy) {
      this.setFlag('DC');
      this.attempt?.abort(new Error('downstream closed'));
    }
    if (this.#onDone !== undefined) (this.#onDone as (arg: unknown) => void)(this.#onDoneArg);
    this.#observer.onExchangeDone(this);
  }
}

// One listener function for every response, rather than a closure per request.
const EXCHANGE = Symbol('petrel.exchange');
type ExchangeResponse = ServerResponse & { [EXCHANGE]?: Exchange };
function onResponseClose(this: ExchangeResponse): void {
  this[EXCHANGE]?.closed();
}
