// One attempt to get a response from one upstream: the undici dispatch handler that streams the
// response into the downstream ServerResponse with backpressure both ways (a slow client pauses
// the upstream socket; a client that goes away aborts the attempt), and turns a failure into a
// flagged local reply, or a cut stream once the response has started. Methods live on the
// prototype: nothing but this object is allocated per attempt.
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { Exchange } from './exchange.ts';
import { ProxyError } from './flags.ts';
import { downstreamHeaders } from './headers.ts';
import { localReply } from './local-reply.ts';
import { classifyUpstreamError } from './upstream-error.ts';

export interface AttemptTarget {
  /** Names the upstream in error messages and logs. */
  label: string;
  /** For the whole request until the response headers; undefined for none. */
  totalTimeoutMs?: number | undefined;
}

export interface AttemptEnvironment {
  readonly log: Logger;
  /** True while draining: responses then close their downstream connection. */
  readonly draining: () => boolean;
}

export class UpstreamAttempt implements Dispatcher.DispatchHandler {
  readonly #env: AttemptEnvironment;
  readonly #exchange: Exchange;
  readonly #target: AttemptTarget;
  #controller: Dispatcher.DispatchController | undefined;
  #started = false;
  #timer: NodeJS.Timeout | undefined;
  /** An abort that arrived before undici handed over the controller. */
  #abortReason: Error | undefined;

  constructor(env: AttemptEnvironment, exchange: Exchange, target: AttemptTarget) {
    this.#env = env;
    this.#exchange = exchange;
    this.#target = target;
    exchange.attempt = this;
    if (target.totalTimeoutMs !== undefined) this.#timer = setTimeout(onTotalTimeout, target.totalTimeoutMs, this);
  }

  /** Cancels the attempt: the client went away, or a timeout fired. */
  abort(reason: Error): void {
    if (this.#controller !== undefined) this.#controller.abort(reason);
    else this.#abortReason = reason;
  }

  get target(): AttemptTarget {
    return this.#target;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason !== undefined) controller.abort(this.#abortReason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (status < 200) return; // 1xx: 100-continue is answered by this proxy's own server; others are dropped
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const res = this.#exchange.res;
    this.#started = true;
    downstreamHeaders(headers);
    if (this.#env.draining()) res.shouldKeepAlive = false;
    if (statusMessage) res.statusMessage = statusMessage;
    res.writeHead(status, headers as Record<string, string | string[]>);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.#exchange.res;
    if (!res.write(chunk)) {
      controller.pause();
      res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    const res = this.#exchange.res;
    for (const _ in trailers) {
      res.addTrailers(trailers as Record<string, string>);
      break;
    }
    res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const exchange = this.#exchange;
    if (exchange.downstreamClosed && exchange.res.destroyed) return; // the client left first: DC, already counted
    const failure = classifyUpstreamError(err, this.#target.label);
    exchange.setFlag(failure.flag);
    this.#env.log.debug({ requestId: exchange.requestId, flag: failure.flag, upstream: this.#target.label, err: failure.error.message }, 'upstream failure');
    if (this.#started) exchange.cut();
    else localReply(exchange.res, failure.flag, failure.error.message, failure.error.status, exchange.requestId);
  }
}

function onTotalTimeout(attempt: UpstreamAttempt): void {
  const { label, totalTimeoutMs } = attempt.target;
  attempt.abort(new ProxyError('UT', `${label} sent no response within the total timeout of ${totalTimeoutMs}ms`));
}
