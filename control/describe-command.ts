// `petrel describe service NAME` / `petrel describe pod NAME`: which policy values, routes,
// AccessPolicies and endpoints apply to a service, and why (the source of every value), and which
// sidecars hold which version; like `istioctl x describe`. The control plane computes it
// (GET /v1/describe/..., control/describe.ts); this prints it as sections, or as JSON with -o json.
// An unknown service or pod exits 1 naming what exists nearby.
import { ControlApiError, getJson, readApiToken } from './api-client.ts';
import type { DescribedRoute, DescribePodBody, DescribeServiceBody, SourcedValue } from './describe.ts';
import type { AccessRuleSpec, RouteMatchSpec, RouteSpec } from '../api/types.ts';

export interface DescribeOptions {
  kind: 'service' | 'pod';
  name: string;
  namespace: string;
  control: string;
  tokenFile?: string | undefined;
  output: string;
  out?: (line: string) => void;
  err?: (line: string) => void;
}

export async function runDescribe(o: DescribeOptions): Promise<number> {
  const out = o.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = o.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  let body: DescribeServiceBody | DescribePodBody;
  try {
    const token = await readApiToken(o.tokenFile);
    body = await getJson(o.control, `/v1/describe/${o.kind}/${encodeURIComponent(o.namespace)}/${encodeURIComponent(o.name)}`, token);
  } catch (e) {
    const message = (e as Error).message;
    // A 404 carries the sentence naming what exists; the URL adds nothing to it.
    const notFound = e instanceof ControlApiError && e.status === 404 ? /HTTP 404: (.*)$/.exec(message)?.[1] : undefined;
    err(`petrel describe: ${notFound ?? message}`);
    return 1;
  }
  if (o.output === 'json') out(JSON.stringify(body, null, 2));
  else for (const line of formatDescribe(body)) out(line);
  return 0;
}

export function formatDescribe(body: DescribeServiceBody | DescribePodBody): string[] {
  if (body.kind === 'service') return formatService(body);
  const lines = [`Pod ${body.pod}.${body.namespace}: an endpoint of ${body.services.map((s) => `${s.service}.${s.namespace}`).join(', ')}`];
  for (const s of body.services) lines.push('', ...formatService(s));
  return lines;
}

function formatService(b: DescribeServiceBody): string[] {
  const lines = [`Service ${b.service}.${b.namespace}`, '', 'Policy (effective values; source of each)'];
  lines.push(...table(Object.entries(b.policy).map(([path, v]) => [path, value(v.value), v.source]), '  '));
  lines.push('', 'Routes');
  if (b.routes.length === 0) lines.push('  none: every call takes the service\'s policy above');
  for (const r of b.routes) lines.push(...formatRoute(r, b.policy));
  lines.push('', 'AccessPolicies');
  if (b.access === null) lines.push('  none apply: every caller is allowed, plaintext from outside the mesh too');
  else {
    const a = b.access;
    lines.push(`  mtls: ${a.mtls}`);
    if (a.rules === undefined) lines.push('  rules: none (every caller allowed)');
    else if (a.rules.length === 0) lines.push('  rules: [] (every call denied)');
    else for (const r of a.rules) lines.push(`  allow ${accessRule(r)}`);
    for (const s of a.scoped ?? []) {
      lines.push(`  scope ${s.source}: calls matching ${s.matches.map(match).join(' | ') || 'anything'} must also be allowed by:`);
      for (const r of s.rules) lines.push(`    allow ${accessRule(r)}`);
    }
    lines.push(`  from: ${a.sources.join('; ') || '-'}`);
  }
  lines.push('', 'Endpoints (breaker and latency score as the callers\' sidecars report them)');
  if (b.endpoints.length === 0) lines.push('  none registered');
  else {
    const rows = [['ADDRESS', 'NAME', 'CIRCUIT', 'LATENCY', 'IN FLIGHT', 'REPORTED BY']];
    for (const e of b.endpoints) {
      const circuit = e.circuit === 'open' ? `open (by ${e.openBy.join(', ')})` : e.circuit === 'half-open' ? `half-open (by ${e.halfOpenBy.join(', ')})` : e.circuit;
      const latency = e.ewmaMs === null ? '-' : e.maxEwmaMs !== null && e.callers.length > 1 ? `${ms(e.ewmaMs)} (max ${ms(e.maxEwmaMs)})` : ms(e.ewmaMs);
      const by = e.callers.length === 0 ? '-' : e.callers.length <= 2 ? e.callers.join(', ') : `${e.callers.length} callers`;
      rows.push([e.address, e.name + (e.registered ? '' : ' (not registered)'), circuit, latency, String(e.inflight), by]);
    }
    lines.push(...table(rows, '  '));
  }
  lines.push('', 'Sidecars (the snapshot version each holds)');
  if (b.sidecars.length === 0) lines.push('  none connected');
  else {
    const rows = [['NAME', 'ADDRESS', 'VERSION', 'STATUS', 'ERROR']];
    for (const s of b.sidecars) rows.push([s.name, s.address, String(s.version ?? '-'), `${s.state}${s.connected ? '' : ' (disconnected)'}`, s.error ?? '']);
    lines.push(...table(rows, '  '));
  }
  return lines;
}

/** A rule's header, what it takes and where it sends, then the values that differ from the service's. */
function formatRoute(r: DescribedRoute, service: Record<string, SourcedValue>): string[] {
  const lines = [`  ${r.kind} ${r.name} (${r.source})`];
  const matches = r.kind === 'rule' ? (r.matches as RouteMatchSpec[]).map(match) : (r.matches as NonNullable<RouteSpec['match']>[]).map(shorthandMatch);
  lines.push(`    matches: ${matches.join(' | ') || 'every call'}`);
  if (r.kind === 'rule') {
    const total = r.backends.reduce((n, b) => n + b.weight, 0) + (r.invalid?.weight ?? 0);
    const backends = r.backends.map((b) => `${b.service}.${b.namespace}${r.backends.length > 1 || r.invalid !== undefined ? ` ${pct(b.weight, total)}` : ''}`);
    if (r.invalid !== undefined) backends.push(`500 NC ${pct(r.invalid.weight, total)} (${r.invalid.why})`);
    lines.push(`    backends: ${r.unresolved !== undefined ? `none: 500 (${r.unresolved})` : backends.join(', ') || '-'}`);
    const f = r.filters;
    if (f !== undefined && Object.keys(f).length > 0) lines.push(`    filters: ${Object.keys(f).join(', ')}`);
  }
  const own = Object.entries(r.policy).filter(([path, v]) => service[path]?.source !== v.source || JSON.stringify(service[path]?.value) !== JSON.stringify(v.value));
  if (own.length === 0) lines.push('    policy: as the service\'s');
  else {
    lines.push('    policy (values not the service\'s; the rest as the service\'s):');
    lines.push(...table(own.map(([path, v]) => [path, value(v.value), v.source]), '      '));
  }
  return lines;
}

function match(m: RouteMatchSpec): string {
  const parts: string[] = [];
  if (m.method !== undefined) parts.push(m.method);
  if (m.path !== undefined) parts.push(`${m.path.type} ${m.path.value}`);
  for (const h of m.headers ?? []) parts.push(`header ${h.name}=${h.value}`);
  for (const q of m.queryParams ?? []) parts.push(`query ${q.name}=${q.value}`);
  return parts.join(' ') || 'any';
}

function shorthandMatch(m: NonNullable<RouteSpec['match']>): string {
  const parts: string[] = [];
  if (m.methods !== undefined) parts.push(m.methods.join(','));
  if (m.path !== undefined) parts.push(`Exact ${m.path}`);
  if (m.pathPrefix !== undefined) parts.push(`PathPrefix ${m.pathPrefix}`);
  return parts.join(' ') || 'any';
}

function accessRule(r: AccessRuleSpec): string {
  const from = [r.from?.serviceAccounts && `serviceAccounts ${r.from.serviceAccounts.join(',')}`, r.from?.namespaces && `namespaces ${r.from.namespaces.join(',')}`].filter(Boolean).join(' ');
  const to = [r.to?.methods && `methods ${r.to.methods.join(',')}`, r.to?.paths && `paths ${r.to.paths.join(',')}`].filter(Boolean).join(' ');
  return `from ${from || 'anyone'}${to ? ` to ${to}` : ''}`;
}

function value(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function pct(weight: number, total: number): string {
  return total === 0 ? '0%' : `${Math.round((weight / total) * 1000) / 10}%`;
}

function ms(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v < 10 ? v.toFixed(2) : v.toFixed(1)}ms`;
}

function table(rows: string[][], indent: string): string[] {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => indent + r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
}
