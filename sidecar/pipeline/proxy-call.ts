// The retry loop of one request: attempts, each to an endpoint the target picks (its breaker
// consulted), with the per-try timeout; between them, backoff; around all of it, the total
// timeout. A failed attempt is retried only when the policy's conditions match, the method or the
// policy makes resending safe, the body can be replayed, the budget has room and the deadline
// allows; otherwise the last upstream answer goes to the client (flagged URX once retries ran out).
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Timeouts } from '../config/compiled.ts';
import type { Clock, TimerHandle } from '../policy/clock.ts';
import { parseRetryAfter, type FailureKind, type RetryPolicy } from '../policy/retry-policy.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { FLAGS, ProxyError, type Flag } from '../proxy/flags.ts';
import { DEADLINE_HEADER } from '../proxy/headers.ts';
import { localReply, ERROR_HEADER } from '../proxy/local-reply.ts';
import { replayable, type RequestBody } from '../proxy/request-body.ts';
import { UpstreamAttempt, type AttemptOwner } from '../proxy/upstream-attempt.ts';
import { classifyUpstreamError } from '../proxy/upstream-error.ts';
import type { RouteCounters } from '../telemetry/metrics.ts';
import type { Destination } from '../upstream/destination.ts';
import type { Endpoint } from '../upstream/endpoint.ts';
import type { Logger } from 'pino';
import type { SpanStart, Tracing } from '../telemetry/tracing.ts';

export type { Destination } from '../upstream/destination.ts';

export interface CallTarget {
  /** The destination of the next attempt, avoiding `previous` when it can; a ProxyError when there is none. */
  next(previous: Endpoint | undefined): Destination | ProxyError;
}

export interface CallEnvironment {
  readonly clock: Clock;
  readonly log: Logger;
  readonly draining: () => boolean;
  readonly tracing: Tracing | undefined;
}

export interface CallPlan {
  target: CallTarget;
  path: string;
  headers: string[];
  body: RequestBody;
  timeouts: Timeouts;
  /** undefined: one attempt, no retries. */
  retry: RetryPolicy | undefined;
  counters: RouteCounters | undefined;
  /** Send the remaining total time to the next hop (x-petrel-deadline-ms): sidecar to sidecar only. */
  propagateDeadline: boolean;
  /** A CLIENT span per attempt (outbound); inbound requests have their SERVER span instead. */
  traceAttempts: boolean;
}

/** The latency a failed attempt is charged with in the endpoint's EWMA. */
export const FAILURE_LATENCY_MS = 1000;

const KIND_OF: Partial<Record<Flag, FailureKind>> = { UF: 'connect-failure', UC: 'reset', UT: 'timeout' };

export class ProxyCall implements AttemptOwner {
  readonly exchange: Exchange;
  readonly #env: CallEnvironment;
  readonly #plan: CallPlan;
  #attempt: UpstreamAttempt | undefined;
  #lastEndpoint: Endpoint | undefined;
  #deadline = Infinity;
  #totalTimer: TimerHandle | undefined;
  #backoffTimer: TimerHandle | undefined;
  /** Clock time after which a Retry-After from the upstream allows the next attempt. */
  #notBefore = 0;
  #retried = false;
  #done = false;
  /** Index of the deadline header's value in the plan's headers, once added. */
  #deadlineSlot = -1;

  constructor(env: CallEnvironment, exchange: Exchange, plan: CallPlan) {
    this.#env = env;
    this.exchange = exchange;
    this.#plan = plan;
  }

  start(): void {
    const req = this.exchange.req;
    const body = this.#plan.body;
    if (body.kind === 'stream' && body.stream === req) {
      // Let the parser finish this packet first: a malformed body (bad chunk size) that arrived
      // with the headers destroys the request before anything is sent upstream.
      queueMicrotask(() => {
        if (!req.destroyed) this.#begin();
      });
      return;
    }
    this.#begin();
  }

  #begin(): void {
    const { timeouts, retry } = this.#plan;
    this.exchange.attempt = this;
    retry?.budget.recordRequest();
    if (timeouts.totalMs !== undefined) {
      this.#deadline = this.#env.clock.now() + timeouts.totalMs;
      this.#totalTimer = this.#env.clock.setTimeout(onTotalTimeout, timeouts.totalMs, this);
    }
    this.#send();
  }

  /** The client went away (or a limit gave up): stop everything. */
  abort(reason: Error): void {
    this.#finish();
    this.#attempt?.abort(reason);
  }

  closeConnections(): boolean {
    return this.#env.draining();
  }

  #send(): void {
    if (this.#done) return;
    const destination = this.#plan.target.next(this.#lastEndpoint);
    if (destination instanceof ProxyError) {
      if (this.#plan.traceAttempts && destination.flag === 'UO') this.#env.tracing?.decision(this.#spanStart(undefined), 'circuit_open', 'UO', destination.status);
      this.#reply(destination.flag, destination.message, destination.status);
      return;
    }
    const { clock } = this.#env;
    const plan = this.#plan;
    const exchange = this.exchange;
    exchange.attempts++;
    exchange.upstream = destination.label;
    const endpoint = destination.endpoint;
    if (endpoint !== undefined) endpoint.stats.inflight++;
    this.#lastEndpoint = endpoint;
    const attempt = new UpstreamAttempt(this, endpoint, destination.label, clock.now());
    this.#attempt = attempt;
    const headers = plan.headers;
    const tracing = this.#env.tracing;
    if (tracing !== undefined && plan.traceAttempts) {
      attempt.span = tracing.clientSpan(this.#spanStart(endpoint));
      tracing.inject(attempt.span, headers);
    }
    if (plan.propagateDeadline && this.#deadline !== Infinity) {
      const remaining = String(Math.max(0, Math.round(this.#deadline - clock.now())));
      // The header array is this request's own: set the value in place, once per attempt.
      if (this.#deadlineSlot < 0) this.#deadlineSlot = headers.push(DEADLINE_HEADER, remaining) - 1;
      else headers[this.#deadlineSlot] = remaining;
    }
    const body = plan.body;
    const options: Dispatcher.DispatchOptions = {
      method: exchange.req.method as Dispatcher.HttpMethod,
      path: plan.path,
      headers,
      body: body.kind === 'none' ? null : body.kind === 'buffered' ? body.data : body.stream,
    };
    if (destination.origin !== undefined) options.origin = destination.origin;
    if (plan.timeouts.perTryMs !== undefined) options.headersTimeout = plan.timeouts.perTryMs;
    destination.dispatcher.dispatch(options, attempt);
  }

  #spanStart(endpoint: Endpoint | undefined): SpanStart {
    const req = this.exchange.req;
    return {
      parentHeaders: req.headers, method: req.method ?? 'GET', path: this.#plan.path,
      serverAddress: endpoint?.host ?? (req.headers.host ?? ''), serverPort: endpoint?.port, resendCount: this.exchange.attempts - 1,
    };
  }

  /**
   * Ends an attempt's accounting on its endpoint: load, latency, breaker. A failure counts as at
   * least FAILURE_LATENCY_MS, so that an endpoint failing fast (connection refused) does not look
   * like the fastest one to the EWMA balancer and draw traffic into a black hole.
   */
  #settle(attempt: UpstreamAttempt, outcome: 'succeeded' | 'failed' | 'cancelled'): void {
    const endpoint = attempt.endpoint;
    if (endpoint === undefined) return;
    endpoint.stats.inflight--;
    if (outcome === 'cancelled') {
      // Neither a success nor a failure; a half-open probe slot must still be given back.
      endpoint.breaker?.onCancelled();
      return;
    }
    const latency = this.#env.clock.now() - attempt.startedAt;
    endpoint.stats.observe(outcome === 'failed' ? Math.max(latency, FAILURE_LATENCY_MS) : latency);
    if (outcome === 'failed') endpoint.breaker?.onFailure();
    else endpoint.breaker?.onSuccess();
  }

  onAttemptResponse(attempt: UpstreamAttempt, status: number, headers: IncomingHttpHeaders): boolean {
    this.#settle(attempt, status >= 500 ? 'failed' : 'succeeded');
    if (attempt.span !== undefined) this.#env.tracing?.end(attempt.span, status, '-');
    if (this.#done) return false;
    const retry = this.#plan.retry;
    if (retry !== undefined && retry.retriesStatus(status)) {
      const retryAfter = status === 429 || status === 503 ? parseRetryAfter(headers['retry-after'], Date.now()) : undefined;
      if (this.#mayRetry(retry, false, retryAfter)) {
        this.#notBefore = retryAfter === undefined ? 0 : this.#env.clock.now() + retryAfter;
        this.#plan.counters?.retry(String(status));
        return false;
      }
      if (this.#retried && retry.configured) {
        this.exchange.setFlag('URX');
        headers[ERROR_HEADER] = 'URX';
      }
    }
    this.#finish();
    return true;
  }

  onAttemptDiscarded(_attempt: UpstreamAttempt): void {
    this.#retry();
  }

  onAttemptFailed(attempt: UpstreamAttempt, err: Error, relaying: boolean): void {
    const exchange = this.exchange;
    if (exchange.downstreamClosed && exchange.res.destroyed) {
      // The client left first (DC, already counted): says nothing about the endpoint's health.
      this.#settle(attempt, 'cancelled');
      if (attempt.span !== undefined) this.#env.tracing?.end(attempt.span, undefined, 'DC', 'DC');
      return;
    }
    this.#settle(attempt, 'failed');
    const failure = classifyUpstreamError(err, attempt.label);
    if (attempt.span !== undefined) this.#env.tracing?.end(attempt.span, undefined, failure.flag, failure.flag);
    exchange.setFlag(failure.flag);
    this.#env.log.debug({ requestId: exchange.requestId, flag: failure.flag, upstream: attempt.label, err: failure.error.message }, 'upstream failure');
    if (relaying) {
      this.#finish();
      exchange.cut();
      return;
    }
    if (this.#done) {
      // The total timeout fired and aborted this attempt.
      this.#replyNow(failure.flag, failure.error.message, failure.error.status);
      return;
    }
    const kind = KIND_OF[failure.flag];
    const retry = this.#plan.retry;
    if (retry !== undefined && kind !== undefined && retry.retriesFailure(kind) && this.#mayRetry(retry, failure.neverSent, undefined)) {
      this.#plan.counters?.retry(kind);
      this.#retry();
      return;
    }
    const exhausted = this.#retried && retry?.configured === true;
    if (exhausted) exchange.setFlag('URX');
    this.#reply(exhausted ? 'URX' : failure.flag, failure.error.message, failure.error.status);
  }

  #mayRetry(retry: RetryPolicy, neverSent: boolean, retryAfterMs: number | undefined): boolean {
    const exchange = this.exchange;
    if (exchange.attempts >= retry.attempts) return false;
    if (!retry.maySend(exchange.req.method ?? 'GET', neverSent)) return false;
    if (!replayable(this.#plan.body)) return false;
    const delay = retryAfterMs ?? 0;
    if (this.#env.clock.now() + delay >= this.#deadline) return false;
    if (!retry.budget.tryRetry()) {
      this.#plan.counters?.budgetExhausted();
      this.#attempt?.span?.addEvent('retry_budget_exhausted');
      return false;
    }
    return true;
  }

  #retry(): void {
    if (this.#done) return;
    const retry = this.#plan.retry as RetryPolicy;
    this.#retried = true;
    const { clock } = this.#env;
    const backoff = retry.backoff.delay(this.exchange.attempts);
    const delay = Math.max(backoff, this.#notBefore - clock.now());
    if (delay <= 0) {
      this.#send();
      return;
    }
    this.#backoffTimer = clock.setTimeout(onBackoffDone, Math.min(delay, Math.max(0, this.#deadline - clock.now())), this);
  }

  /** The backoff wait is over: the next attempt. */
  backoffDone(): void {
    this.#backoffTimer = undefined;
    this.#send();
  }

  totalTimeout(): void {
    this.#totalTimer = undefined;
    const message = `no response within the total timeout of ${this.#plan.timeouts.totalMs}ms`;
    const waiting = this.#backoffTimer !== undefined;
    this.#finish();
    if (waiting || this.#attempt === undefined) this.#replyNow('UT', message, FLAGS.UT.status);
    else this.#attempt.abort(new ProxyError('UT', `${this.#attempt.label}: ${message}`));
  }

  #reply(flag: Flag, message: string, status: number): void {
    this.#finish();
    this.#replyNow(flag, message, status);
  }

  #replyNow(flag: Flag, message: string, status: number): void {
    const exchange = this.exchange;
    exchange.setFlag(flag);
    localReply(exchange.res, flag, message, status, exchange.requestId);
  }

  /** No more attempts: timers off. */
  #finish(): void {
    this.#done = true;
    if (this.#totalTimer !== undefined) this.#env.clock.clearTimeout(this.#totalTimer);
    if (this.#backoffTimer !== undefined) this.#env.clock.clearTimeout(this.#backoffTimer);
    this.#totalTimer = this.#backoffTimer = undefined;
  }
}

function onTotalTimeout(call: ProxyCall): void {
  call.totalTimeout();
}

function onBackoffDone(call: ProxyCall): void {
  call.backoffDone();
}
