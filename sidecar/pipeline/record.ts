// Bookkeeping done once per request when its downstream response closes: metrics, the access log
// and the debug log line.
import type { Exchange } from '../proxy/exchange.ts';
import type { ProxyContext } from './context.ts';

export function recordExchange(ctx: ProxyContext, exchange: Exchange, direction: string): void {
  const { req, res } = exchange;
  const status = res.headersSent ? res.statusCode : 499;
  const seconds = exchange.durationSeconds;
  exchange.metrics?.record(req.method ?? 'OTHER', status, exchange.flags, seconds);
  ctx.accessLog.record(exchange, direction, ctx.self.service, status, seconds);
  if (exchange.span !== undefined) ctx.tracing?.end(exchange.span, status, exchange.flags);
  if (ctx.log.isLevelEnabled('debug')) {
    ctx.log.debug({
      direction, requestId: exchange.requestId, method: req.method, authority: req.headers.host, status,
      flags: exchange.flags, upstream: exchange.upstream, attempts: exchange.attempts, durationMs: seconds * 1000,
    }, 'request');
  }
}
