// The control plane's HTTP API (port 15014). /v1/status names every sidecar and its subscription,
// so with a credential configured it needs one too (`authorization: Bearer`, as on the stream;
// `petrel status --token-file F`). /metrics, /ready and /live stay open for scrapers and probes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { serveMetrics } from '../sidecar/telemetry/exposition.ts';
import type { Authenticator } from './auth.ts';
import { json } from './http-util.ts';
import type { ControlMetrics } from './metrics.ts';
import type { SourceState } from './policy.ts';
import type { SidecarStatus } from './subscription.ts';

export interface StatusBody {
  sidecars: SidecarStatus[];
  policies: { count: number; rejected: SourceState['errors'] };
}

export interface ApiServerOptions {
  /** Who may read /v1/status; undefined: anyone (no credential configured). */
  statusAuth: Authenticator | undefined;
  sidecars: () => SidecarStatus[];
  policies: () => SourceState;
  metrics: ControlMetrics;
}

export function apiHandler(o: ApiServerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const status = (res: ServerResponse) => {
    const policies = o.policies();
    const body: StatusBody = { sidecars: o.sidecars(), policies: { count: policies.policies.length, rejected: policies.errors } };
    json(res, 200, body);
  };
  return (req, res) => {
    const path = new URL(req.url ?? '/', 'http://control').pathname;
    if (req.method !== 'GET') return json(res, 405, { error: `${req.method} ${path}: the API answers GET only` });
    switch (path) {
      case '/v1/status':
        if (o.statusAuth === undefined) return status(res);
        o.statusAuth.authenticate(req).then(
          (principal) => (principal !== undefined ? status(res) : json(res, 401, { error: '/v1/status needs the control plane\'s token: authorization: Bearer <token> (petrel status --token-file F)' })),
          () => json(res, 500, { error: '/v1/status: authentication failed' }),
        );
        return;
      case '/metrics':
        serveMetrics(o.metrics.registry, req, res);
        return;
      case '/ready':
      case '/live':
        res.end('ok\n');
        return;
      default:
        json(res, 404, { error: `no API endpoint ${path}` });
    }
  };
}
