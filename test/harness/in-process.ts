// Runs the middle of the sidecar in process, with no socket and no process: a snapshot compiled
// into route chains on a fake clock, upstream pools replaced by a scripted dispatcher, and
// exchanges built on minimal request/response doubles that record what the client would get.
import { EventEmitter } from 'node:events';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { pino } from 'pino';
import type { Dispatcher } from 'undici';
import type { Snapshot } from '../../api/types.ts';
import type { ChainEnvironment } from '../../sidecar/chain/step.ts';
import { ConfigStore } from '../../sidecar/config/config-store.ts';
import { matchRoute } from '../../sidecar/config/compiled.ts';
import { SeededRandom } from '../../sidecar/policy/clock.ts';
import { PolicyStateRegistry } from '../../sidecar/policy/policy-state.ts';
import { Exchange, type ExchangeObserver } from '../../sidecar/proxy/exchange.ts';
import { upstreamHeaders } from '../../sidecar/proxy/headers.ts';
import { SidecarMetrics } from '../../sidecar/telemetry/metrics.ts';
import { EndpointStateRegistry } from '../../sidecar/upstream/endpoint-state.ts';
import type { PoolRegistry } from '../../sidecar/upstream/pool-registry.ts';
import { FakeClock } from './fake-clock.ts';

/** One request an upstream received; the test answers it. */
export class ScriptedCall {
  readonly origin: string;
  readonly options: Dispatcher.DispatchOptions;
  readonly #handler: Dispatcher.DispatchHandler;
  readonly #controller: Dispatcher.DispatchController;
  aborted: Error | undefined;

  constructor(origin: string, options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) {
    this.origin = origin;
    this.options = options;
    this.#handler = handler;
    const call = this;
    this.#controller = {
      abort(reason: Error) {
        call.aborted = reason;
        handler.onResponseError?.(call.#controller, reason);
      },
      pause() {}, resume() {}, aborted: false, paused: false, reason: null,
    } as unknown as Dispatcher.DispatchController;
    handler.onRequestStart?.(this.#controller, {});
  }

  respond(status: number, body = '', headers: IncomingHttpHeaders = {}): void {
    this.#handler.onResponseStart?.(this.#controller, status, { ...headers }, '');
    if (body !== '') this.#handler.onResponseData?.(this.#controller, Buffer.from(body));
    this.#handler.onResponseEnd?.(this.#controller, {});
  }

  fail(code: string): void {
    this.#handler.onResponseError?.(this.#controller, Object.assign(new Error(code), { code }));
  }
}

/** Stands in for PoolRegistry: every origin's "pool" records the calls it is given. */
export class ScriptedUpstreams {
  readonly calls: ScriptedCall[] = [];
  /** Thrown by the next dispatch, as undici throws for a request it refuses to send. */
  throwNext: Error | undefined;

  registry(): PoolRegistry {
    const dispatcherFor = (origin: string) => ({
      dispatch: (options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) => {
        const error = this.throwNext;
        this.throwNext = undefined;
        if (error !== undefined) throw error;
        this.calls.push(new ScriptedCall(origin, options, handler));
        return true;
      },
    });
    return {
      pool: (origin: string) => dispatcherFor(origin),
      // HTTP/2 sessions are never opened in process: these tests drive HTTP/1.1 exchanges.
      h2: (origin: string) => ({ origin }),
      agent: () => dispatcherFor('agent'),
      retain: () => {},
      stats: () => ({ connected: 0, pending: 0, running: 0 }),
    } as unknown as PoolRegistry;
  }

  /** The calls not yet answered, in order. */
  take(): ScriptedCall[] {
    return this.calls.splice(0);
  }
}

/** What a client got from an in-process exchange. */
export class RecordedResponse extends EventEmitter {
  statusCode = 0;
  statusMessage = '';
  headers: Record<string, unknown> = {};
  body = '';
  headersSent = false;
  destroyed = false;
  writableEnded = false;
  writableFinished = false;
  shouldKeepAlive = true;
  readonly req: { method: string };

  constructor(method: string) {
    super();
    this.req = { method };
  }

  writeHead(status: number, headers: Record<string, unknown>): this {
    this.statusCode = status;
    this.headers = headers;
    this.headersSent = true;
    return this;
  }

  write(chunk: Buffer | string): boolean {
    this.body += chunk.toString();
    return true;
  }

  addTrailers(): void {}

  end(chunk?: Buffer | string): this {
    if (chunk !== undefined) this.body += chunk.toString();
    this.writableEnded = this.writableFinished = true;
    this.emit('close');
    return this;
  }

  destroy(): this {
    this.destroyed = true;
    this.emit('close');
    return this;
  }

  /** The client hangs up before the answer. */
  hangUp(): void {
    this.destroy();
  }
}

/** The raw socket of an Upgrade request: records what is written, and can hang up. */
export class FakeSocket extends EventEmitter {
  written = '';
  destroyed = false;
  writable = true;

  write(chunk: string | Buffer): boolean {
    this.written += chunk.toString();
    return true;
  }

  end(chunk?: string | Buffer): void {
    if (chunk !== undefined) this.written += chunk.toString();
    this.destroy();
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.writable = false;
    this.emit('close');
  }
}

export interface InProcessSidecar {
  clock: FakeClock;
  upstreams: ScriptedUpstreams;
  store: ConfigStore;
  env: ChainEnvironment;
  metrics: SidecarMetrics;
  done: Exchange[];
  /** Runs a request down the chain of the route it matches for service `host`. */
  request(host: string, init?: { method?: string; path?: string; headers?: string[]; upgrade?: boolean }): { exchange: Exchange; res: RecordedResponse; socket: FakeSocket };
}

export function inProcessSidecar(snapshot: Snapshot, service = 'caller'): InProcessSidecar {
  const clock = new FakeClock(1_000);
  const random = new SeededRandom(7);
  const upstreams = new ScriptedUpstreams();
  const metrics = new SidecarMetrics(() => 0);
  const env: ChainEnvironment = { clock, random, log: pino({ level: 'silent' }), draining: () => false, tracing: undefined };
  const store = new ConfigStore({
    self: { service, namespace: 'default' }, app: undefined, pools: upstreams.registry(),
    endpointStates: new EndpointStateRegistry(clock, random, { onCreated() {}, onTransition() {} }),
    policyStates: new PolicyStateRegistry(), metrics, env,
  });
  store.apply(snapshot, { kind: 'file', name: 'test' });
  const done: Exchange[] = [];
  const observer: ExchangeObserver = { onExchangeDone: (exchange) => done.push(exchange) };
  return {
    clock, upstreams, store, env, metrics, done,
    request(host, init = {}) {
      const method = init.method ?? 'GET';
      const rawHeaders = ['host', host, ...(init.headers ?? [])];
      const req = Object.assign(new EventEmitter(), {
        method, url: init.path ?? '/', rawHeaders, headers: { host }, socket: { remoteAddress: '127.0.0.1' }, destroyed: false,
      }) as unknown as IncomingMessage;
      const res = new RecordedResponse(method);
      const socket = new FakeSocket();
      const exchange = init.upgrade === true
        ? new Exchange(req, undefined, observer, { socket: socket as unknown as Duplex, head: Buffer.alloc(0), reattach: () => {} })
        : new Exchange(req, res as unknown as ServerResponse, observer);
      exchange.prepare(upstreamHeaders(rawHeaders, '127.0.0.1', init.upgrade === true));
      const route = matchRoute(store.current!.hosts.get(host)!, method, exchange.path);
      exchange.counters = route.counters;
      exchange.metrics = route.metrics;
      route.chain.run(exchange);
      return { exchange, res, socket };
    },
  };
}
