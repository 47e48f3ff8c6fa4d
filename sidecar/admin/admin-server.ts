// The admin listener (15000): /live, /ready and /metrics for anyone (kubelet, Prometheus);
// /config_dump, /memory, /drain and /log-level only from loopback, since they reveal or change state.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isLoopbackAddress } from '../routing/request-target.ts';
import type { ProxyContext } from '../pipeline/context.ts';
import { serveMetrics } from '../telemetry/exposition.ts';

export interface AdminActions {
  /** Why the sidecar is not ready, or undefined when it is. */
  notReadyReason(): string | undefined;
  /** Details for /ready?details=1 (identity, certificate, renewal); a `warning` also goes on the plain answer. */
  details?(): Record<string, unknown>;
  drain(): void;
  configDump(): unknown;
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** process.memoryUsage(), after a full GC when asked and the process runs with --expose-gc. */
function memory(collect: boolean): Record<string, number | boolean> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (collect && gc) gc();
  return { ...process.memoryUsage(), collected: collect && gc !== undefined };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function createAdminServer(ctx: ProxyContext, actions: AdminActions): Server {
  return createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const local = isLoopbackAddress(req.socket.remoteAddress);
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /live':
        res.end('live\n');
        return;
      case 'GET /ready': {
        const reason = actions.notReadyReason();
        const details = actions.details?.() ?? {};
        if (url.searchParams.get('details') === '1') {
          json(res, reason === undefined ? 200 : 503, { ready: reason === undefined, reason: reason ?? null, ...details });
          return;
        }
        res.statusCode = reason === undefined ? 200 : 503;
        const warning = typeof details.warning === 'string' ? `warning: ${details.warning}\n` : '';
        res.end(reason === undefined ? `ready\n${warning}` : `not ready: ${reason}\n${warning}`);
        return;
      }
      case 'GET /metrics':
        serveMetrics(ctx.metrics.registry, req, res);
        return;
    }
    if (!local && ['/config_dump', '/drain', '/log-level', '/memory'].includes(url.pathname)) {
      json(res, 403, { error: `${url.pathname} is served to loopback clients only` });
      return;
    }
    switch (route) {
      case 'GET /config_dump':
        json(res, 200, actions.configDump());
        return;
      case 'GET /memory':
        json(res, 200, memory(url.searchParams.get('gc') === '1'));
        return;
      case 'POST /drain':
        actions.drain();
        json(res, 202, { draining: true });
        return;
      case 'POST /log-level': {
        const level = url.searchParams.get('level') ?? '';
        if (!LOG_LEVELS.has(level)) {
          json(res, 400, { error: `level must be one of ${[...LOG_LEVELS].join(', ')}` });
          return;
        }
        ctx.log.level = level;
        json(res, 200, { level });
        return;
      }
      default:
        json(res, 404, { error: `no admin endpoint ${route}` });
    }
  });
}
