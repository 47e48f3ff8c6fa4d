// The retry loop of one request: attempts, each to an endpoint the target picks (its breaker
// consulted), with the per-try timeout; between them, backoff; around all of it, the total
// timeout. Whether to try again is decideRetry()'s call (policy/retry-decision.ts); the endpoint
// keeps its own books (Endpoint.begin/settle). This class keeps only its timers and the dispatch.
//
// An HTTP/1.1 request goes upstream through undici (UpstreamAttempt), an HTTP/2 one on an HTTP/2
// session (H2Attempt). A gRPC call's outcome is its grpc-status, and its deadline covers the whole
// call: grpc-timeout joins the total timeout (the smaller wins), the time left goes upstream as a
// rewritten grpc-timeout, and the timer runs until the response ends, not just to its headers.
import type { IncomingHttpHeaders } from 'node:http';
import type { AttemptOutcome, Endpoint } from '../upstream/endpoint.ts';
import type { TimerHandle } from '../policy/clock.ts';
import { decideRetry, type AttemptResult, type RetryDecision } from '../policy/retry-decision.ts';
import { parseRetryAfter } from '../policy/retry-policy.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { FLAGS, ProxyError, type Flag } from '../proxy/flags.ts';
import { formatGrpcTimeout, GRPC, parseGrpcTimeout, parsePushback } from '../proxy/grpc.ts';
import { H2Attempt } from '../proxy/h2-attempt.ts';
import { DEADLINE_HEADER, setHeader } from '../proxy/headers.ts';
import { ERROR_HEADER } from '../proxy/local-reply.ts';
import { replayable } from '../proxy/request-body.ts';
import { UpstreamAttempt, type Attempt, type AttemptOwner } from '../proxy/upstream-attempt.ts';
import { classifyUpstreamError } from '../proxy/upstream-error.ts';
import type { SpanStart } from '../telemetry/tracing.ts';
import { grpcOutcome, sendH2, sendHttp1 } from './attempt-dispatch.ts';
import type { DispatchPlan } from './dispatch-plan.ts';
import { reject } from './reject.ts';
import type { ChainEnvironment } from './step.ts';

export class ProxyCall implements AttemptOwner {
  readonly exchange: Exchange;
  readonly #env: ChainEnvironment;
  readonly #plan: DispatchPlan;
  #attempt: Attempt | undefined;
  /** The attempt whose endpoint books are settled (each attempt settles once). */
  #settled: Attempt | undefined;
  #lastEndpoint: Endpoint | undefined;
  #deadline = Infinity;
  #totalMs: number | undefined;
  #totalTimer: TimerHandle | undefined;
  #backoffTimer: TimerHandle | undefined;
  #retried = false;
  #done = false;
  /** The backoff before the retry that #scheduleRetry decided. */
  #pendingDelay = 0;
  /** Index of the deadline header's value in the exchange's headers, once added. */
  #deadlineSlot = -1;

  constructor(env: ChainEnvironment, exchange: Exchange, plan: DispatchPlan) {
    this.#env = env;
    this.exchange = exchange;
    this.#plan = plan;
  }

  start(): void {
    const exchange = this.exchange;
    const body = exchange.body;
    if (body.kind === 'stream' && body.stream === exchange.req) { // HTTP/1.1 only
      // Let the parser finish the bytes it has first: a malformed body (bad chunk size or framing)
      // that arrived with the headers destroys the request before anything is sent upstream.
      // setImmediate, not a microtask: the parse error may surface only after this I/O callback.
      setImmediate(beginUnlessDestroyed, this);
      return;
    }
    this.#begin();
  }

  /** Starts the attempts, unless the request was destroyed meanwhile (see start()). */
  beginUnlessDestroyed(): void {
    const req = this.exchange.req!;
    // After a parse error the listener has answered 400 and ended the socket; the request itself
    // is destroyed only when the socket closes.
    if (!req.destroyed && !req.socket.writableEnded && !req.socket.destroyed) this.#begin();
  }

  #begin(): void {
    const exchange = this.exchange;
    exchange.attempt = this;
    this.#plan.retry?.budget.recordRequest();
    let totalMs = exchange.totalMs ?? this.#plan.timeouts.totalMs;
    if (exchange.grpc) {
      const grpcMs = parseGrpcTimeout(exchange.requestHeaders['grpc-timeout']);
      if (grpcMs !== undefined && (totalMs === undefined || grpcMs < totalMs)) totalMs = grpcMs;
    }
    if (totalMs !== undefined) {
      this.#totalMs = totalMs;
      this.#deadline = this.#env.clock.now() + totalMs;
      this.#totalTimer = this.#env.clock.setTimeout(onTotalTimeout, totalMs, this);
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
    const exchange = this.exchange;
    const destination = this.#plan.target.next(this.#lastEndpoint);
    if (destination instanceof ProxyError) {
      this.#finish();
      reject(this.#env, exchange, destination, destination.flag === 'UO' ? 'circuit_open' : destination.flag === 'NC' ? 'no_route' : 'no_endpoint');
      return;
    }
    const { clock } = this.#env;
    const plan = this.#plan;
    exchange.attempts++;
    exchange.upstream = destination.label;
    const endpoint = destination.endpoint;
    endpoint?.begin();
    this.#lastEndpoint = endpoint;
    const headers = exchange.headers;
    const h2 = exchange.h2 !== undefined;
    const attempt: Attempt = h2
      ? new H2Attempt(this, endpoint, destination.label, clock, destination.panic === true)
      : new UpstreamAttempt(this, endpoint, destination.label, clock.now(), destination.panic === true);
    this.#attempt = attempt;
    const tracing = this.#env.tracing;
    if (tracing !== undefined && plan.traceAttempts) {
      attempt.span = tracing.clientSpan(this.#spanStart(endpoint));
      tracing.inject(attempt.span, headers);
    }
    exchange.explain?.attempt(exchange.attempts, endpoint?.name ?? destination.label, attempt.span);
    if (this.#deadline !== Infinity) {
      const remainingMs = Math.max(0, this.#deadline - clock.now());
      if (plan.propagateDeadline) {
        const remaining = String(Math.round(remainingMs));
        // The header array is this request's own: set the value in place, once per attempt.
        if (this.#deadlineSlot < 0) this.#deadlineSlot = headers.push(DEADLINE_HEADER, remaining) - 1;
        else headers[this.#deadlineSlot] = remaining;
      }
      // The server learns how long the caller will still wait, retries and hops included.
      if (exchange.grpc) setHeader(headers, 'grpc-timeout', formatGrpcTimeout(remainingMs));
    }
    if (h2) {
      const retry = plan.retry;
      // Hold a gRPC response for its status only while a retry could still follow.
      const peek = exchange.grpc && retry !== undefined && retry.retriesGrpc && exchange.attempts < retry.attempts && replayable(exchange.body);
      sendH2(attempt as H2Attempt, exchange, destination, plan.timeouts.perTryMs, peek);
    } else sendHttp1(attempt as UpstreamAttempt, exchange, destination, plan.timeouts.perTryMs);
  }

  #spanStart(endpoint: Endpoint | undefined): SpanStart {
    const exchange = this.exchange;
    return {
      parentHeaders: exchange.requestHeaders, method: exchange.method, path: exchange.path,
      serverAddress: endpoint?.host ?? exchange.authority, serverPort: endpoint?.port, resendCount: exchange.attempts - 1,
      grpc: exchange.grpc, route: exchange.metrics?.labels.route,
    };
  }

  #settle(attempt: Attempt, outcome: AttemptOutcome): void {
    if (this.#settled === attempt) return;
    this.#settled = attempt;
    attempt.endpoint?.settle(outcome, this.#env.clock.now() - attempt.startedAt, attempt.panic);
  }

  onAttemptResponse(attempt: Attempt, status: number, headers: IncomingHttpHeaders, grpcStatus?: number): boolean {
    const exchange = this.exchange;
    const grpc = exchange.grpc && status === 200;
    if (grpc && grpcStatus !== undefined) this.#settle(attempt, grpcOutcome(grpcStatus));
    else if (!grpc) this.#settle(attempt, status >= 500 ? 'failed' : 'succeeded');
    // A gRPC response still streaming settles (and ends its span) when its trailers arrive.
    if (attempt.span !== undefined && (!grpc || grpcStatus !== undefined)) this.#env.tracing?.end(attempt.span, status, '-', undefined, grpcStatus);
    if (this.#done) return false;
    exchange.explain?.outcome(grpcStatus === undefined ? String(status) : `${status} grpc ${grpcStatus}`);
    const retry = this.#plan.retry;
    if (retry !== undefined) {
      let decision: RetryDecision;
      if (grpc) {
        decision = grpcStatus === undefined || grpcStatus === GRPC.OK ? NOT_RETRIED
          : this.#decide({ kind: 'grpc', status: grpcStatus, pushbackMs: parsePushback(headers['grpc-retry-pushback-ms']) });
      } else {
        const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(headers['retry-after'], Date.now()) : undefined;
        decision = this.#decide({ kind: 'status', status, retryAfterMs });
      }
      if (decision.retry) {
        this.#scheduleRetry(decision.delayMs, decision.reason);
        return false;
      }
      if (decision.why !== 'condition' && this.#retried && retry.configured) {
        exchange.setFlag('URX');
        headers[ERROR_HEADER] = 'URX';
        attempt.errorFlag = 'URX';
      }
    }
    if (grpcStatus !== undefined) exchange.grpcStatus = grpcStatus;
    // A gRPC call's deadline runs until its last byte; anything else's ends with the headers.
    if (exchange.grpc && this.#totalTimer !== undefined) this.#done = true;
    else this.#finish();
    exchange.explain?.relaying(exchange);
    return true;
  }

  onAttemptEnd(attempt: Attempt, grpcStatus: number | undefined): void {
    const exchange = this.exchange;
    if (exchange.grpc && grpcStatus !== undefined && this.#settled !== attempt) {
      exchange.grpcStatus = grpcStatus;
      this.#settle(attempt, grpcOutcome(grpcStatus));
      if (attempt.span !== undefined) this.#env.tracing?.end(attempt.span, 200, '-', undefined, grpcStatus);
    } else if (this.#settled !== attempt) {
      this.#settle(attempt, 'succeeded');
      if (attempt.span !== undefined) this.#env.tracing?.end(attempt.span, 200, '-');
    }
    this.#finish();
  }

  onAttemptDiscarded(_attempt: Attempt): void {
    this.#retryNow();
  }

  onAttemptFailed(attempt: Attempt, err: Error, relaying: boolean): void {
    const exchange = this.exchange;
    const failure = classifyUpstreamError(err, attempt.label);
    if ((exchange.downstreamClosed && exchange.gone) || failure.flag === 'DPE') {
      // The client left first (DC, already counted), or the request was the client's own
      // mistake: neither says anything about the endpoint's health.
      this.#settle(attempt, 'cancelled');
      if (attempt.span !== undefined) this.#env.tracing?.end(attempt.span, undefined, failure.flag === 'DPE' ? 'DPE' : 'DC', 'DC');
      if (failure.flag === 'DPE') this.#reply('DPE', failure.error.message, failure.error.status);
      return;
    }
    this.#settle(attempt, 'failed');
    if (attempt.span !== undefined) this.#env.tracing?.end(attempt.span, undefined, failure.flag, failure.flag);
    exchange.setFlag(failure.flag);
    exchange.explain?.outcome(failure.flag);
    this.#env.log.debug({ requestId: exchange.requestId, flag: failure.flag, upstream: attempt.label, err: failure.error.message }, 'upstream failure');
    if (relaying) {
      this.#finish();
      // A gRPC call whose headers went out still ends with a status in its trailers.
      if (exchange.grpc) exchange.reply(failure.flag, failure.error.message, failure.error.status);
      else exchange.cut();
      return;
    }
    if (this.#done) {
      // The total timeout fired and aborted this attempt.
      exchange.reply(failure.flag, failure.error.message, failure.error.status);
      return;
    }
    const retry = this.#plan.retry;
    const kind = failure.flag === 'UF' ? 'connect-failure' : failure.flag === 'UC' ? 'reset' : failure.flag === 'UT' ? 'timeout' : undefined;
    if (retry !== undefined && kind !== undefined) {
      const decision = this.#decide({ kind, neverSent: failure.neverSent });
      if (decision.retry) {
        this.#scheduleRetry(decision.delayMs, decision.reason);
        this.#retryNow();
        return;
      }
    }
    const exhausted = this.#retried && retry?.configured === true;
    if (exhausted) exchange.setFlag('URX');
    this.#reply(exhausted ? 'URX' : failure.flag, failure.error.message, failure.error.status);
  }

  #decide(result: AttemptResult): RetryDecision {
    const exchange = this.exchange;
    const decision = decideRetry(this.#plan.retry!, result, {
      attempts: exchange.attempts, method: exchange.method, replayable: replayable(exchange.body),
      now: this.#env.clock.now(), deadline: this.#deadline,
    });
    exchange.explain?.retryDecision(decision, this.#plan.retry!);
    if (!decision.retry && decision.why === 'budget') {
      exchange.counters?.budgetExhausted();
      this.#attempt?.span?.addEvent('retry_budget_exhausted');
    }
    return decision;
  }

  /** Counts the retry and sets its delay; it goes once the discarded response is read, or at once. */
  #scheduleRetry(delayMs: number, reason: string): void {
    this.exchange.counters?.retry(reason);
    this.#pendingDelay = delayMs;
  }

  #retryNow(): void {
    if (this.#done) return;
    this.#retried = true;
    const delay = this.#pendingDelay;
    if (delay <= 0) {
      this.#send();
      return;
    }
    this.#backoffTimer = this.#env.clock.setTimeout(onBackoffDone, delay, this);
  }

  /** The backoff wait is over: the next attempt. */
  backoffDone(): void {
    this.#backoffTimer = undefined;
    this.#send();
  }

  totalTimeout(): void {
    this.#totalTimer = undefined;
    const message = `no response within the total timeout of ${this.#totalMs}ms`;
    const waiting = this.#backoffTimer !== undefined;
    this.#finish();
    if (waiting || this.#attempt === undefined) this.exchange.reply('UT', message, FLAGS.UT.status);
    else this.#attempt.abort(new ProxyError('UT', `${this.#attempt.label}: ${message}`));
  }

  #reply(flag: Flag, message: string, status: number): void {
    this.#finish();
    this.exchange.reply(flag, message, status);
  }

  /** No more attempts: timers off. */
  #finish(): void {
    this.#done = true;
    if (this.#totalTimer !== undefined) this.#env.clock.clearTimeout(this.#totalTimer);
    if (this.#backoffTimer !== undefined) this.#env.clock.clearTimeout(this.#backoffTimer);
    this.#totalTimer = this.#backoffTimer = undefined;
  }
}

const NOT_RETRIED: RetryDecision = { retry: false, why: 'condition' };

function beginUnlessDestroyed(call: ProxyCall): void {
  call.beginUnlessDestroyed();
}

function onTotalTimeout(call: ProxyCall): void {
  call.totalTimeout();
}

function onBackoffDone(call: ProxyCall): void {
  call.backoffDone();
}
