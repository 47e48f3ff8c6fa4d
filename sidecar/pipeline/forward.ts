// The last step of the request path: send the request to one upstream and relay the response,
// turning a failure into a flagged local reply (or a cut stream once the response has started).
import type { Dispatcher } from 'undici';
import type { Exchange } from '../proxy/exchange.ts';
import { localReply } from '../proxy/local-reply.ts';
import { ResponseRelay } from '../proxy/response-relay.ts';
import { classifyUpstreamError } from '../proxy/upstream-error.ts';
import { ProxyError } from '../proxy/flags.ts';
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
  const { req, res } = exchange;
  exchange.attempts++;
  exchange.upstream = upstream.label;
  let totalTimer: NodeJS.Timeout | undefined;
  const relay = new ResponseRelay(exchange, {
    closeConnection: ctx.draining,
    onResponse() {
      if (totalTimer !== undefined) clearTimeout(totalTimer);
    },
    onFailure(err, responseStarted) {
      if (totalTimer !== undefined) clearTimeout(totalTimer);
      if (exchange.downstreamClosed && res.destroyed) return; // the client left first: DC, already counted
      const failure = classifyUpstreamError(err, upstream.label);
      exchange.setFlag(failure.flag);
      ctx.log.debug({ requestId: exchange.requestId, flag: failure.flag, upstream: upstream.label, err: failure.error.message }, 'upstream failure');
      if (responseStarted) exchange.cut();
      else localReply(res, failure.flag, failure.error.message, failure.error.status, exchange.requestId);
    },
  });
  const options: Dispatcher.DispatchOptions = {
    method: req.method as Dispatcher.HttpMethod,
    path: upstream.path,
    headers: upstream.headers,
    body: upstream.hasBody ? req : null,
  };
  if (upstream.origin !== undefined) options.origin = upstream.origin;
  if (upstream.perTryTimeoutMs !== undefined) options.headersTimeout = upstream.perTryTimeoutMs;
  const total = upstream.totalTimeoutMs;
  if (total !== undefined) {
    totalTimer = setTimeout(() => {
      exchange.abortUpstream?.(new ProxyError('UT', `${upstream.label} sent no response within the total timeout of ${total}ms`));
    }, total);
  }
  upstream.dispatcher.dispatch(options, relay);
}
