// One attempt to get a response from one upstream: the undici dispatch handler. Its owner (the
// call's retry loop) decides at the response headers whether to relay the response or discard it
// for a retry; a relayed response streams into the downstream ServerResponse with backpressure
// both ways (a slow client pauses the upstream socket). Methods live on the prototype: nothing but
// this object is allocated per attempt.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Endpoint } from '../upstream/endpoint.ts';
import type { Span } from '@opentelemetry/api';
import type { Exchange } from './exchange.ts';
import { downstreamHeaders } from './headers.ts';

/** One attempt to one upstream, over HTTP/1.1 (UpstreamAttempt) or HTTP/2 (H2Attempt). */
export interface Attempt {
  /** undefined for the local app and passthrough destinations. */
  readonly endpoint: Endpoint | undefined;
  readonly label: string;
  /** Clock time the attempt was dispatched. */
  readonly startedAt: number;
  /** The balancer overruled the breakers (panic) to pick this endpoint. */
  readonly panic: boolean;
  /** The attempt's CLIENT span, when tracing is on. */
  span: Span | undefined;
  /** The flag (URX) the relayed response carries in petrel-error, set by the owner as it decides. */
  errorFlag?: string | undefined;
  abort(reason: Error): void;
}

export interface AttemptOwner {
  readonly exchange: Exchange;
  /**
   * Headers arrived: true to relay the response downstream, false to discard it (a retry follows).
   * `grpcStatus` when the response's gRPC status is already known (trailers-only, or peeked trailers).
   */
  onAttemptResponse(attempt: Attempt, status: number, headers: IncomingHttpHeaders, grpcStatus?: number): boolean;
  /** A discarded response has been read to its end; the connection is free again. */
  onAttemptDiscarded(attempt: Attempt): void;
  /** The attempt failed; `relaying` when the response had started downstream. */
  onAttemptFailed(attempt: Attempt, err: Error, relaying: boolean): void;
  /** A relayed HTTP/2 response ended, with the gRPC status of its trailers if any. */
  onAttemptEnd?(attempt: Attempt, grpcStatus: number | undefined): void;
  /** True while draining: responses then close their downstream connection. */
  closeConnections(): boolean;
}

export class UpstreamAttempt implements Dispatcher.DispatchHandler, Attempt {
  readonly owner: AttemptOwner;
  /** undefined for the local app and passthrough destinations. */
  readonly endpoint: Endpoint | undefined;
  readonly label: string;
  /** Clock time the attempt was dispatched. */
  readonly startedAt: number;
  /** The balancer overruled the breakers (panic) to pick this endpoint. */
  readonly panic: boolean;
  /** The attempt's CLIENT span, when tracing is on. */
  span: Span | undefined;
  #controller: Dispatcher.DispatchController | undefined;
  #relaying = false;
  #discarding = false;
  /** An abort that arrived before undici handed over the controller. */
  #abortReason: Error | undefined;

  constructor(owner: AttemptOwner, endpoint: Endpoint | undefined, label: string, startedAt: number, panic: boolean) {
    this.owner = owner;
    this.panic = panic;
    this.endpoint = endpoint;
    this.label = label;
    this.startedAt = startedAt;
  }

  abort(reason: Error): void {
    if (this.#controller !== undefined) this.#controller.abort(reason);
    else this.#abortReason = reason;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason !== undefined) controller.abort(this.#abortReason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (status < 200) return; // 1xx: 100-continue is answered by this proxy's own server; others are dropped
    if (!this.owner.onAttemptResponse(this, status, headers)) {
      this.#discarding = true;
      return;
    }
    const res = this.owner.exchange.res as ServerResponse;
    this.#relaying = true;
    downstreamHeaders(headers);
    this.owner.exchange.responseHeaders?.applyToObject(headers);
    if (this.owner.closeConnections()) res.shouldKeepAlive = false;
    if (statusMessage) res.statusMessage = statusMessage;
    res.writeHead(status, headers as Record<string, string | string[]>);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#discarding) return;
    const res = this.owner.exchange.res as ServerResponse;
    if (!res.write(chunk)) {
      controller.pause();
      res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    if (this.#discarding) {
      this.owner.onAttemptDiscarded(this);
      return;
    }
    const res = this.owner.exchange.res as ServerResponse;
    for (const _ in trailers) {
      res.addTrailers(trailers as Record<string, string>);
      break;
    }
    res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    // A response already judged retryable that then breaks is still a reason to retry.
    if (this.#discarding) this.owner.onAttemptDiscarded(this);
    else this.owner.onAttemptFailed(this, err, this.#relaying);
  }
}
