// What both request paths share at their front: the three ways a request arrives (an HTTP/1.1
// request, an HTTP/2 stream, an HTTP Upgrade), each made into an Exchange and handed to the
// direction's accept(); and the bookkeeping once the exchange is over.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Exchange, type ExchangeObserver, type UpgradeDownstream } from '../proxy/exchange.ts';
import type { Direction } from '../telemetry/request-series.ts';
import type { ProxyContext } from './context.ts';
import { recordExchange } from './record.ts';

export abstract class PipelineEntryPoints implements ExchangeObserver {
  protected readonly ctx: ProxyContext;
  readonly #direction: Direction;
  readonly #reattach: UpgradeDownstream['reattach'];

  /** @param reattach hands a refused Upgrade's connection back to the HTTP/1.1 server */
  constructor(ctx: ProxyContext, direction: Direction, reattach: UpgradeDownstream['reattach']) {
    this.ctx = ctx;
    this.#direction = direction;
    this.#reattach = reattach;
  }

  /** Routes an accepted exchange down its route's chain (or answers it). */
  protected abstract accept(exchange: Exchange, upgrade: boolean): void;

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    // A draining sidecar tells every client to go elsewhere next time.
    if (this.ctx.draining()) res.shouldKeepAlive = false;
    this.accept(new Exchange(req, res, this), false);
  };

  /** An HTTP/2 stream (a gRPC call, or any HTTP/2 request): the same path, upstream over HTTP/2. */
  readonly stream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, endStream: boolean, rawHeaders: string[], socket: Socket): void => {
    this.accept(new Exchange(undefined, undefined, this, undefined, { stream, headers, rawHeaders, endStream, socket }), false);
  };

  /** HTTP Upgrade (WebSocket and others): the same path; it becomes a tunnel only on a 101. */
  readonly upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.accept(new Exchange(req, undefined, this, { socket, head, reattach: this.#reattach }), true);
  };

  onExchangeDone(exchange: Exchange): void {
    recordExchange(this.ctx, exchange, this.#direction);
  }
}
