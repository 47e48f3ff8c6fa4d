// The policy chain of one outbound request to a mesh service, in the order it runs:
//   rate limit -> concurrency limit -> fault injection -> body buffering -> retry loop (ProxyCall)
// Each step is a method that either answers the request or hands it to the next. One object per
// request carries the state through, including while it waits in the concurrency queue or a delay.
import type { RoutePolicy, ServiceTarget } from '../config/compiled.ts';
import type { Waiter } from '../policy/concurrency-limiter.ts';
import { MAX_REPLAY_BODY_BYTES } from '../policy/retry-policy.ts';
import type { Exchange } from '../proxy/exchange.ts';
import type { UpstreamHeaders } from '../proxy/headers.ts';
import { localReply } from '../proxy/local-reply.ts';
import { bufferBody, NO_BODY, type RequestBody } from '../proxy/request-body.ts';
import type { ProxyContext } from './context.ts';
import { ProxyCall } from './proxy-call.ts';

export class OutboundRequest implements Waiter {
  readonly #ctx: ProxyContext;
  readonly #exchange: Exchange;
  readonly #service: ServiceTarget;
  readonly #route: RoutePolicy;
  readonly #path: string;
  readonly #up: UpstreamHeaders;
  #queued = false;

  constructor(ctx: ProxyContext, exchange: Exchange, service: ServiceTarget, route: RoutePolicy, path: string, up: UpstreamHeaders) {
    this.#ctx = ctx;
    this.#exchange = exchange;
    this.#service = service;
    this.#route = route;
    this.#path = path;
    this.#up = up;
  }

  /** Step 1: the service's and the route's token buckets. */
  run(): void {
    const bucket = this.#service.rateLimit?.tryTake() === false ? this.#service.rateLimit
      : this.#route.rateLimit?.tryTake() === false ? this.#route.rateLimit : undefined;
    if (bucket !== undefined) {
      this.#route.counters.rateLimited();
      this.#trace('rate_limited', 'RL', 429);
      this.#exchange.setFlag('RL');
      localReply(this.#exchange.res, 'RL', `rate limit of ${bucket.ratePerSecond}/s for ${this.#service.id} reached`, undefined,
        this.#exchange.requestId, { 'retry-after': String(bucket.retryAfterSeconds()) });
      return;
    }
    this.#limitConcurrency();
  }

  /** Step 2: a slot among maxRequests, or a place among maxPending, or 503 UO. */
  #limitConcurrency(): void {
    const limiter = this.#service.concurrency;
    const outcome = limiter.acquire(this);
    if (outcome === 'rejected') {
      this.#route.counters.overflow();
      this.#trace('overflow', 'UO', 503);
      this.#exchange.setFlag('UO');
      localReply(this.#exchange.res, 'UO', `${this.#service.id} has ${limiter.maxRequests} requests in flight and ${limiter.maxPending} waiting`,
        undefined, this.#exchange.requestId);
      return;
    }
    this.#exchange.onDone(releaseSlot, this);
    if (outcome === 'granted') this.#inject();
    else this.#queued = true;
  }

  /** The concurrency limiter gave this queued request its slot. */
  granted(): void {
    this.#queued = false;
    if (this.#exchange.res.destroyed) {
      this.#service.concurrency.release();
      return;
    }
    this.#inject();
  }

  /** Step 3: fault injection, for chaos tests. */
  #inject(): void {
    const fault = this.#route.fault?.decide();
    if (fault === undefined || fault.kind === 'none') return this.#prepareBody();
    if (fault.kind === 'abort') {
      this.#trace('fault_abort', 'FI', fault.status);
      this.#exchange.setFlag('FI');
      localReply(this.#exchange.res, 'FI', 'aborted by fault injection', fault.status, this.#exchange.requestId);
      return;
    }
    this.#exchange.setFlag('DI');
    this.#ctx.clock.setTimeout(afterFaultDelay, fault.ms, this);
  }

  /** A fault delay is over: carry on unless the client left meanwhile. */
  delayed(): void {
    if (!this.#exchange.res.destroyed) this.#prepareBody();
  }

  /** Step 4: a body that a retry may need to resend is buffered, up to 64 KiB. */
  #prepareBody(): void {
    const req = this.#exchange.req;
    if (!this.#up.hasBody) return this.#call(NO_BODY);
    if (this.#route.retry.attempts > 1) {
      bufferBody(req, MAX_REPLAY_BODY_BYTES, (body) => this.#call(body));
      return;
    }
    this.#call({ kind: 'stream', stream: req });
  }

  /** Step 5: the retry loop. */
  #call(body: RequestBody): void {
    const route = this.#route;
    new ProxyCall(this.#ctx, this.#exchange, {
      target: this.#service.callTarget,
      path: this.#path,
      headers: this.#up.headers,
      body,
      timeouts: route.timeouts,
      retry: route.retry,
      counters: route.counters,
      propagateDeadline: true,
      traceAttempts: true,
    }).start();
  }

  /** A policy decision that answers the request without an attempt, as a span event. */
  #trace(event: string, flag: string, status: number): void {
    const tracing = this.#ctx.tracing;
    if (tracing === undefined) return;
    const req = this.#exchange.req;
    tracing.decision({ parentHeaders: req.headers, method: req.method ?? 'GET', path: this.#path, serverAddress: this.#service.name, serverPort: undefined }, event, flag, status);
  }

  /** The request is over: free its slot, or leave the queue. */
  release(): void {
    if (this.#queued) this.#service.concurrency.cancel(this);
    else this.#service.concurrency.release();
  }
}

function releaseSlot(request: OutboundRequest): void {
  request.release();
}

function afterFaultDelay(request: OutboundRequest): void {
  request.delayed();
}
