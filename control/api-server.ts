// The control plane's HTTP API (port 15014). /v1/status names every sidecar and its subscription,
// so with a credential configured it needs one too (`authorization: Bearer`, as on the stream;
// `petrel status --token-file F`). /metrics, /ready and /live stay open for scrapers and probes.
// /v1/stat (merged sidecar summaries, `petrel stat`) and /v1/checks/kubernetes (`petrel check` in a
// cluster) need the same credential as /v1/status, and so do /v1/topology (the web view's graph),
// /v1/describe/{service,pod}/<ns>/<name> (`petrel describe`, control/describe.ts) and /v1/tap
// (`petrel tap`): an NDJSON stream of live requests, relayed from the sidecars (tap-hub.ts); it is
// privileged, as it shows who calls what. Everything else that is one of the web view's files
// (web-assets.ts) is the page, open to anyone: it holds no data, and reads the API with the token the
// user gives it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { StatBody } from '../api/stat-summary.ts';
import { DurationError, MAX_FLAG_DURATION_MS, parseDuration } from '../api/duration.ts';
import { serveMetrics } from '../sidecar/telemetry/exposition.ts';
import type { Authenticator } from './auth.ts';
import { json } from './http-util.ts';
import type { ControlMetrics } from './metrics.ts';
import type { SourceState } from './policy.ts';
import type { SidecarStatus } from './subscription.ts';
import { MAX_TAPS, type TapHub, type TapRequest } from './tap-hub.ts';
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
  /** `petrel describe`: the body, or undefined with `notFound` naming what exists nearby. */
  describe?: (kind: 'service' | 'pod', namespace: string, name: string) => { body: unknown } | { notFound: string };
  taps?: TapHub;
  /** The web view: its graph's data, and its files. */
  topology?: () => TopologyBody;
  web?: WebAssets;
}

/** Most events one tap may ask for. */
export const MAX_TAP_EVENTS = 10_000;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** GET /v1/tap?service=S&namespace=N&explain=1&max=100&duration=30s, checked; a string says what is wrong. */
export function parseTapQuery(q: URLSearchParams): TapRequest | string {
  const service = q.get('service') ?? '';
  const namespace = q.get('namespace') ?? 'default';
  if (!DNS_LABEL.test(service) || !DNS_LABEL.test(namespace)) return 'service and namespace must be DNS labels (?service=NAME&namespace=NS)';
  const max = Number(q.get('max') ?? '100');
  if (!Number.isSafeInteger(max) || max < 1 || max > MAX_TAP_EVENTS) return `max must be a whole number from 1 to ${MAX_TAP_EVENTS}`;
  let durationMs: number;
  try {
    durationMs = parseDuration(q.get('duration') ?? '30s');
  } catch (err) {
    return `duration: ${(err as DurationError).message}`;
  }
  if (durationMs <= 0 || durationMs > MAX_FLAG_DURATION_MS) return 'duration must be more than 0 and at most 1h';
  const explain = q.get('explain');
  return { service, namespace, explain: explain === '1' || explain === 'true', max, durationMs };
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6 (a dual-stack listener's view of an IPv4 peer). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
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
  const tap = (req: IncomingMessage, res: ServerResponse) => {
    if (o.taps === undefined) return json(res, 404, { error: 'this control plane relays no taps' });
    const request = parseTapQuery(new URL(req.url ?? '/', 'http://control').searchParams);
    if (typeof request === 'string') return json(res, 400, { error: `/v1/tap: ${request}` });
    if (o.taps.count >= MAX_TAPS) return json(res, 429, { error: `/v1/tap: ${MAX_TAPS} taps are running already; try again when one ends` });
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.flushHeaders();
    o.taps.open(request, res);
  };
  /**
   * Tap shows who calls what, live: it is never open to the network. With a token configured it
   * needs the token; without one (Kubernetes runs with --token-review and no --token-file) only a
   * caller on this host's loopback gets it: the local CLI, or `kubectl port-forward`, which reaches the
   * pod from its own loopback and so carries the user's Kubernetes RBAC on pods/portforward.
   */
  const privileged = (req: IncomingMessage, res: ServerResponse, path: string, serve: (res: ServerResponse) => void) => {
    if (o.statusAuth !== undefined || isLoopback(req.socket.remoteAddress)) return guarded(req, res, path, serve);
    json(res, 403, { error: `${path} is privileged and this control plane has no token (--token-file): only loopback callers may tap; from outside the pod use kubectl -n petrel-system port-forward deploy/petrel-control 15014` });
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
    const described = /^\/v1\/describe\/(service|pod)\/([^/]+)\/([^/]+)$/.exec(path);
    if (described !== null && o.describe !== undefined) {
      const [, kind, namespace, name] = described as unknown as [string, 'service' | 'pod', string, string];
      return guarded(req, res, path, (r) => {
        let answer: ReturnType<NonNullable<ApiServerOptions['describe']>>;
        try {
          answer = o.describe!(kind, decodeURIComponent(namespace), decodeURIComponent(name));
        } catch (err) {
          return json(r, 500, { error: `${path}: ${(err as Error).message}` });
        }
        return 'body' in answer ? json(r, 200, answer.body) : json(r, 404, { error: answer.notFound });
      });
    }
    switch (path) {
      case '/v1/status':
        return guarded(req, res, path, status);
      case '/v1/stat':
        return guarded(req, res, path, stat);
      case '/v1/checks/kubernetes':
        return guarded(req, res, path, checks);
      case '/v1/tap':
        return privileged(req, res, path, (res) => tap(req, res));
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
