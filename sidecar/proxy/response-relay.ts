// The undici dispatch handler that streams an upstream response into the downstream ServerResponse,
// with backpressure both ways: a slow client pauses the upstream socket, and a client that goes away
// aborts the upstream request.
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Exchange } from './exchange.ts';
import { downstreamHeaders } from './headers.ts';

export interface RelayCallbacks {
  /** The attempt failed before or while the response streamed. */
  onFailure(err: Error, responseStarted: boolean): void;
  /** The response headers are about to be written; a place to add headers or note the status. */
  onResponse?(status: number, headers: IncomingHttpHeaders): void;
  /** Whether the downstream connection should be closed after this response (draining). */
  closeConnection(): boolean;
}

export class ResponseRelay implements Dispatcher.DispatchHandler {
  readonly #exchange: Exchange;
  readonly #callbacks: RelayCallbacks;
  #controller: Dispatcher.DispatchController | undefined;
  #started = false;
  #onDrain: (() => void) | undefined;
  /** An abort that arrived before undici handed over the controller. */
  #abortReason: Error | undefined;

  constructor(exchange: Exchange, callbacks: RelayCallbacks) {
    this.#exchange = exchange;
    this.#callbacks = callbacks;
    exchange.abortUpstream = (reason) => {
      if (this.#controller !== undefined) this.#controller.abort(reason);
      else this.#abortReason = reason;
    };
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#abortReason !== undefined) controller.abort(this.#abortReason);
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (status < 200) return; // 1xx: 100-continue is answered by this proxy's own server; others are dropped
    const res = this.#exchange.res;
    this.#started = true;
    downstreamHeaders(headers);
    this.#callbacks.onResponse?.(status, headers);
    if (this.#callbacks.closeConnection()) res.shouldKeepAlive = false;
    res.statusCode = status;
    if (statusMessage) res.statusMessage = statusMessage;
    res.writeHead(status, headers as Record<string, string | string[]>);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    const res = this.#exchange.res;
    if (!res.write(chunk)) {
      controller.pause();
      this.#onDrain ??= () => controller.resume();
      res.once('drain', this.#onDrain);
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
    if (this.#onDrain) this.#exchange.res.off('drain', this.#onDrain);
    this.#callbacks.onFailure(err, this.#started);
  }
}
