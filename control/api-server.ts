// The control plane's HTTP API (port 15014). /v1/status names every sidecar and its subscription,
// so with a credential configured it needs one too (`authorization: Bearer`, as on the stream;
// `petrel status --token-file F`). /metrics, /ready and /live stay open for scrapers and probes.
// /v1/stat (merged sidecar summaries, `petrel stat`) and /v1/checks/kubernetes (`petrel check` in a
// cluster) need the same credential as /v1/status, and so does /v1/topology (the web view's graph).
// Everything else that is one of the web view's files (web-assets.ts) is the page, open to anyone:
// it holds no data, and reads the API with the token the user gives it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StatBody } from '../api/stat-summary.ts';
import { serveMetrics } from '../sidecar/telemetry/exposition.ts';
import type { Authenticator } from './auth.ts';
import { json } from './http-util.ts';
import type { ControlMetrics } from './metrics.ts';
import type { SourceState } from './policy.ts';
import type { SidecarStatus } from './subscription.ts';
import type { TopologyBody } from './topology.ts';
import type { WebAssets } from './web-assets.ts';

export interface StatusBody {
  sidecars: SidecarStatus[];
  policies: { count: number; rejected: SourceState['errors'] };
  /** Absent from control planes older than `petrel check`. */
  control?: ControlInfo;
}

/** What the control plane says of itself, for `petrel check`. */
export interface ControlInfo {
  /** The Petrel release (package.json). */
  version: string;
  /** Runs with --kubernetes: the cluster checks apply. */
  kubernetes: boolean;
  /** --cert-ttl, the lifetime of workload certificates; null with --no-identity. */
  certTtlMs: number | null;
}

/** One check the control plane runs for `petrel check` (Kubernetes: CRDs, webhook certificate, caBundles, injector). */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  hint?: string | undefined;
}

export interface ApiServerOptions {
  /** Who may read /v1/status; undefined: anyone (no credential configured). */
  statusAuth: Authenticator | undefined;
  sidecars: () => SidecarStatus[];
  policies: () => SourceState;
  metrics: ControlMetrics;
  info?: () => ControlInfo;
  stats?: () => StatBody;
  kubernetesChecks?: () => Promise<CheckResult[]>;
  /** The web view: its graph's data, and its files. */
  topology?: () => TopologyBody;
  web?: WebAssets;
}

export function apiHandler(o: ApiServerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const status = (res: ServerResponse) => {
    const policies = o.policies();
    const body: StatusBody = { sidecars: o.sidecars(), policies: { count: policies.policies.length, rejected: policies.errors }, ...(o.info === undefined ? {} : { control: o.info() }) };
    json(res, 200, body);
  };
  const stat = (res: ServerResponse) => (o.stats === undefined ? json(res, 404, { error: 'this control plane keeps no stat summaries' }) : json(res, 200, o.stats()));
  const checks = (res: ServerResponse) => {
    if (o.kubernetesChecks === undefined) return json(res, 404, { error: 'this control plane does not run with --kubernetes' });
    o.kubernetesChecks().then((results) => json(res, 200, { checks: results }), (err: Error) => json(res, 500, { error: `kubernetes checks failed: ${err.message}` }));
  };
  /** Answers with `serve` once the caller presents the token (when one is configured). */
  const guarded = (req: IncomingMessage, res: ServerResponse, path: string, serve: (res: ServerResponse) => void) => {
    if (o.statusAuth === undefined) return serve(res);
    o.statusAuth.authenticate(req).then(
      (principal) => (principal !== undefined ? serve(res) : json(res, 401, { error: `${path} needs the control plane's token: authorization: Bearer <token> (--token-file F)` })),
      () => json(res, 500, { error: `${path}: authentication failed` }),
    );
  };
  return (req, res) => {
    const path = new URL(req.url ?? '/', 'http://control').pathname;
    if (req.method !== 'GET') return json(res, 405, { error: `${req.method} ${path}: the API answers GET only` });
    switch (path) {
      case '/v1/status':
        return guarded(req, res, path, status);
      case '/v1/stat':
        return guarded(req, res, path, stat);
      case '/v1/checks/kubernetes':
        return guarded(req, res, path, checks);
      case '/v1/topology':
        return guarded(req, res, path, (r) => (o.topology === undefined ? json(r, 404, { error: 'this control plane keeps no topology' }) : json(r, 200, o.topology())));
      case '/metrics':
        serveMetrics(o.metrics.registry, req, res);
        return;
      case '/ready':
      case '/live':
        res.end('ok\n');
        return;
      default:
        if (o.web?.serve(req, res, path) === true) return;
        json(res, 404, { error: `no API endpoint ${path}` });
    }
  };
}
