// The attempt of an HTTP Upgrade request (WebSocket, h2c, any protocol switch), after the same
// policy steps as any request. The connection becomes a byte tunnel only once the upstream answers
// 101. Any other answer is relayed as an ordinary response and the client's connection goes back
// to the HTTP server, which parses its next request with every check and policy: an upgrade the app
// refused must never turn into an unparsed pipe.
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { ChainEnvironment } from './step.ts';
import type { DispatchPlan } from './dispatch-plan.ts';
import { reject } from './reject.ts';
import type { Exchange, UpgradeDownstream } from '../proxy/exchange.ts';
import { ProxyError } from '../proxy/flags.ts';
import { classifyUpstreamError } from '../proxy/upstream-error.ts';
import { dialTls } from '../upstream/tls-dial.ts';
import { DEADLINE_HEADER, downstreamHeaders } from '../proxy/headers.ts';

export class UpgradeAttempt {
  readonly #env: ChainEnvironment;
  readonly #exchange: Exchange;
  readonly #plan: DispatchPlan;
  readonly #downstream: UpgradeDownstream;
  #request: ClientRequest | undefined;
  #timer: NodeJS.Timeout | undefined;
  #settled = false;
  #settle: ((outcome: 'succeeded' | 'failed' | 'cancelled') => void) | undefined;

  constructor(env: ChainEnvironment, exchange: Exchange, plan: DispatchPlan) {
    this.#env = env;
    this.#exchange = exchange;
    this.#plan = plan;
    this.#downstream = exchange.upgrade as UpgradeDownstream;
  }

  start(): void {
    const exchange = this.#exchange;
    if (exchange.gone) {
      // The client left while the request waited (queue, delay): nothing to send.
      exchange.setFlag('DC');
      exchange.closed();
      return;
    }
    const destination = this.#plan.target.next(undefined);
    if (destination instanceof ProxyError) {
      reject(this.#env, exchange, destination, destination.flag === 'UO' ? 'circuit_open' : 'no_endpoint');
      return;
    }
    exchange.attempts = 1;
    exchange.upstream = destination.label;
    const endpoint = destination.endpoint;
    endpoint?.begin();
    const startedAt = this.#env.clock.now();
    const settle = (outcome: 'succeeded' | 'failed' | 'cancelled') => {
      if (this.#settled) return;
      this.#settled = true;
      endpoint?.settle(outcome, this.#env.clock.now() - startedAt, destination.panic);
    };
    this.#settle = settle;
    exchange.attempt = this;
    const { timeouts, propagateDeadline } = this.#plan;
    const totalMs = exchange.totalMs ?? timeouts.totalMs;
    const headers = exchange.headers;
    if (propagateDeadline && totalMs !== undefined) headers.push(DEADLINE_HEADER, String(totalMs));
    const tls = destination.tls;
    // To another sidecar over mTLS (ALPN http/1.1: an Upgrade is HTTP/1.1); the TCP connect timer
    // below still covers the dial, and a failed handshake classifies as a connect failure.
    const createConnection = tls === undefined ? undefined
      : () => dialTls(destination.host, destination.port, timeouts.connectMs, tls, ['http/1.1'], this.#env.tlsObserver);
    // (Node ignores createConnection when given an agent, agent: false included: no agent then.)
    const req = request({
      host: destination.host, port: destination.port, method: exchange.method, path: exchange.path, headers, setHost: false,
      ...(createConnection === undefined ? { agent: false } : { createConnection }),
    });
    this.#request = req;
    // One timer: the connect timeout, then the time to the response head (perTry, else total).
    const waitMs = timeouts.perTryMs ?? totalMs;
    this.#timer = setTimeout(() => req.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), timeouts.connectMs);
    req.once('socket', (socket: Socket) => socket.once('connect', () => {
      clearTimeout(this.#timer);
      if (waitMs !== undefined) {
        this.#timer = setTimeout(() => req.destroy(Object.assign(new Error('no response head in time'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), waitMs);
      }
    }));
    req.once('upgrade', (res: IncomingMessage, upstream: Socket, upstreamHead: Buffer) => {
      clearTimeout(this.#timer);
      settle('succeeded');
      this.#tunnel(res, upstream, upstreamHead);
    });
    req.once('response', (res: IncomingMessage) => {
      clearTimeout(this.#timer);
      settle(res.statusCode !== undefined && res.statusCode >= 500 ? 'failed' : 'succeeded');
      this.#relay(res);
    });
    req.on('error', (err) => {
      clearTimeout(this.#timer);
      if (exchange.upgradeStatus !== 0 || exchange.gone) return;
      settle('failed');
      const failure = classifyUpstreamError(err, destination.label);
      exchange.reply(failure.flag, failure.error.message, failure.error.status);
    });
    req.end();
  }

  /** 101: the switch happened upstream; from here bytes flow both ways untouched. */
  #tunnel(res: IncomingMessage, upstream: Socket, upstreamHead: Buffer): void {
    const exchange = this.#exchange;
    const { socket: client, head } = this.#downstream;
    let text = `HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}\r\n`;
    const raw = res.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
    client.write(`${text}\r\n`);
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    exchange.upgradeStatus = 101;
    exchange.closed();
  }

  /** Not 101: an ordinary response, then the connection is HTTP again (or closed, when it must be). */
  #relay(res: IncomingMessage): void {
    const exchange = this.#exchange;
    const { socket: client, head, reattach } = this.#downstream;
    const status = res.statusCode ?? 502;
    exchange.upgradeStatus = status;
    // Read before the hygiene below drops the Connection header.
    const keepAlive = !this.#env.draining() && !closesConnection(res.headers.connection) && !closesConnection(exchange.requestHeaders.connection);
    // The same response hygiene as any relayed response; its framing is this sidecar's own.
    const headers = downstreamHeaders(res.headers);
    const length = headers['content-length'];
    let text = `HTTP/1.1 ${status} ${res.statusMessage ?? ''}\r\n`;
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) text += `${name}: ${v}\r\n`;
    }
    const bodyless = exchange.method === 'HEAD' || status === 204 || status === 304;
    const chunked = !bodyless && length === undefined;
    if (chunked) text += 'transfer-encoding: chunked\r\n';
    text += keepAlive ? '\r\n' : 'connection: close\r\n\r\n';
    client.write(text);
    res.on('data', (chunk: Buffer) => {
      const ok = client.write(chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, CRLF]) : chunk);
      if (!ok) {
        res.pause();
        client.once('drain', () => res.resume());
      }
    });
    res.once('end', () => {
      if (chunked) client.write('0\r\n\r\n');
      exchange.closed();
      if (keepAlive && !client.destroyed) reattach(client, head);
      else client.end();
    });
    res.once('error', () => {
      exchange.cut();
      exchange.closed();
    });
  }

  /** The client went away before the upstream answered: no verdict on the endpoint. */
  abort(): void {
    clearTimeout(this.#timer);
    this.#settle?.('cancelled');
    this.#request?.destroy();
  }
}

const CRLF = Buffer.from('\r\n');

function closesConnection(value: string | undefined): boolean {
  return value !== undefined && /(^|,)\s*close\s*(,|$)/i.test(value);
}
