// Bookkeeping done once per request when its downstream response closes: metrics, the access log
// and the debug log line.
import type { Exchange } from '../proxy/exchange.ts';
import type { ProxyContext } from './context.ts';

export function recordExchange(ctx: ProxyContext, exchange: Exchange, direction: 'inbound' | 'outbound'): void {
  const status = exchange.status;
  const seconds = exchange.durationSeconds;
  exchange.metrics?.record(exchange.method, status, exchange.flags, seconds, exchange.grpcStatusLabel);
  // A request sampled into a tap (only while someone taps): its event for the next upload.
  if (exchange.tap !== undefined) ctx.tap.finish(exchange, direction, status, seconds);
  // Asked for by the app's petrel-explain header or a tap: built once for the log and the span.
  const explained = exchange.explain?.compact();
  if (ctx.accessLog.wants(status, exchange.flags)) {
    const labels = exchange.metrics?.labels;
    ctx.accessLog.write({
      time: new Date().toISOString(),
      trace_id: ctx.accessLog.traceId(exchange.requestHeaders.traceparent),
      request_id: exchange.requestId,
      direction,
      service: ctx.self.service,
      peer_service: labels?.peer_service ?? '',
      peer_identity: exchange.peerIdentity?.uri ?? '',
      tls: labels?.tls ?? 'false',
      method: exchange.method,
      authority: exchange.authority,
      path: exchange.path,
      route: labels?.route ?? '',
      status,
      grpc_status: exchange.grpcStatusLabel,
      flags: exchange.flags,
      upstream: exchange.upstream,
      attempts: exchange.attempts,
      duration_ms: Math.round(seconds * 1e6) / 1e3,
      ...(explained === undefined ? {} : { explain: explained }),
    });
  }
  if (explained !== undefined && exchange.span?.isRecording() === true) exchange.span.addEvent('petrel.explain', { 'petrel.explain': explained });
  if (exchange.span !== undefined) ctx.tracing?.end(exchange.span, status, exchange.flags, undefined, exchange.grpcStatus);
  if (ctx.log.isLevelEnabled('debug')) {
    ctx.log.debug({
      direction, requestId: exchange.requestId, method: exchange.method, authority: exchange.authority, status,
      flags: exchange.flags, upstream: exchange.upstream, attempts: exchange.attempts, durationMs: seconds * 1000,
    }, 'request');
  }
}
