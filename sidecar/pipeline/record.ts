// Bookkeeping done once per request when its downstream response closes: metrics, the access log
// and the debug log line.
import type { Exchange } from '../proxy/exchange.ts';
import type { ProxyContext } from './context.ts';

export function recordExchange(ctx: ProxyContext, exchange: Exchange, direction: 'inbound' | 'outbound'): void {
  const { req } = exchange;
  const status = exchange.status;
  const seconds = exchange.durationSeconds;
  exchange.metrics?.record(exchange.method, status, exchange.flags, seconds);
  if (ctx.accessLog.wants(status, exchange.flags)) {
    const labels = exchange.metrics?.labels;
    ctx.accessLog.write({
      time: new Date().toISOString(),
      trace_id: ctx.accessLog.traceId(req.headers.traceparent),
      request_id: exchange.requestId,
      direction,
      service: ctx.self.service,
      peer_service: labels?.peer_service ?? '',
      method: exchange.method,
      authority: req.headers.host ?? '',
      path: exchange.path,
      route: labels?.route ?? '',
      status,
      flags: exchange.flags,
      upstream: exchange.upstream,
      attempts: exchange.attempts,
      duration_ms: Math.round(seconds * 1e6) / 1e3,
    });
  }
  if (exchange.span !== undefined) ctx.tracing?.end(exchange.span, status, exchange.flags);
  if (ctx.log.isLevelEnabled('debug')) {
    ctx.log.debug({
      direction, requestId: exchange.requestId, method: exchange.method, authority: req.headers.host, status,
      flags: exchange.flags, upstream: exchange.upstream, attempts: exchange.attempts, durationMs: seconds * 1000,
    }, 'request');
  }
}
