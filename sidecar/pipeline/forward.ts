// The last step of the request path: send the request to one upstream (UpstreamAttempt relays the
// response, or the failure).
import type { Dispatcher } from 'undici';
import type { Exchange } from '../proxy/exchange.ts';
import { UpstreamAttempt } from '../proxy/upstream-attempt.ts';
import type { ProxyContext } from './context.ts';

export interface UpstreamRequest {
  dispatcher: Dispatcher;
  /** Required when the dispatcher is an Agent (passthrough); pools know their origin. */
  origin?: string;
  path: string;
  headers: string[];
  hasBody: boolean;
  /** Names the upstream in error messages and logs. */
  label: string;
  /** Timeouts until the response headers; see ServicePolicy. */
  perTryTimeoutMs?: number | undefined;
  totalTimeoutMs?: number | undefined;
}

export function forward(ctx: ProxyContext, exchange: Exchange, upstream: UpstreamRequest): void {
  exchange.attempts++;
  exchange.upstream = upstream.label;
  const attempt = new UpstreamAttempt(ctx, exchange, upstream);
  const options: Dispatcher.DispatchOptions = {
    method: exchange.req.method as Dispatcher.HttpMethod,
    path: upstream.path,
    headers: upstream.headers,
    body: upstream.hasBody ? exchange.req : null,
  };
  if (upstream.origin !== undefined) options.origin = upstream.origin;
  if (upstream.perTryTimeoutMs !== undefined) options.headersTimeout = upstream.perTryTimeoutMs;
  upstream.dispatcher.dispatch(options, attempt);
}
