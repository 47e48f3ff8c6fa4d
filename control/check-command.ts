// `petrel check`: ordered health checks of the mesh, each a line with a mark and, when it fails, a
// hint; like `linkerd check`. Marks are plain ASCII ([ok], [fail], [skip]) so they read the same in
// any terminal and in CI logs. The first check (the control plane answers) gates the rest: without
// it they are skipped. Exit 0 when every check passes, 1 naming the first that failed.
// The rules themselves are pure (check-rules.ts); the cluster checks run in the control plane,
// which holds the kube client and the webhook certificate (kubernetes-checks.ts).
import { PETREL_VERSION } from '../api/version.ts';
import { ControlApiError, getJson, probe, readApiToken } from './api-client.ts';
import type { CheckResult, StatusBody } from './api-server.ts';
import { certificatesFresh, noVersionSkew, policiesAccepted, sidecarsSynced, type CheckLine } from './check-rules.ts';

export interface CheckOptions {
  control: string;
  tokenFile?: string | undefined;
  output: string;
  /** Wall-clock milliseconds, for certificate expiry; injected by tests. */
  now?: () => number;
  out?: (line: string) => void;
}

export interface CheckReport {
  ok: boolean;
  /** The name of the first failing check; null when all passed. */
  firstFailure: string | null;
  checks: CheckLine[];
}

const CONTROL = 'control plane reachable and ready';
const LATER = ['policies accepted', 'sidecars synced', 'no version skew', 'certificates not close to expiry'];

export async function runCheck(o: CheckOptions): Promise<number> {
  const out = o.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const report = await check(o);
  if (o.output === 'json') out(JSON.stringify(report, null, 2));
  else {
    for (const c of report.checks) {
      out(`${`[${c.status}]`.padEnd(7)}${c.name}: ${c.detail}`);
      if (c.status === 'fail' && c.hint !== undefined) out(`       hint: ${c.hint}`);
    }
    const failed = report.checks.filter((c) => c.status === 'fail').length;
    out(report.ok ? `all ${report.checks.length} checks passed` : `${failed} of ${report.checks.length} checks failed; the first: ${report.firstFailure}`);
  }
  return report.ok ? 0 : 1;
}

export async function check(o: CheckOptions): Promise<CheckReport> {
  const checks: CheckLine[] = [];
  const finish = (): CheckReport => {
    const first = checks.find((c) => c.status === 'fail');
    return { ok: first === undefined, firstFailure: first?.name ?? null, checks };
  };
  const skipRest = (why: string) => { for (const name of LATER) checks.push({ name, status: 'skip', detail: why }); };

  let token: string | undefined;
  try {
    token = await readApiToken(o.tokenFile);
  } catch (err) {
    checks.push({ name: CONTROL, status: 'fail', detail: (err as Error).message, hint: 'give --token-file the file the control plane was started with' });
    skipRest('needs the control plane');
    return finish();
  }
  let body: StatusBody;
  try {
    await probe(o.control, '/ready');
    body = await getJson<StatusBody>(o.control, '/v1/status', token);
  } catch (err) {
    const unreachable = err instanceof ControlApiError && err.code === 'PETREL_CONTROL_UNREACHABLE';
    checks.push({
      name: CONTROL, status: 'fail', detail: (err as Error).message,
      hint: unreachable ? 'start it (petrel control), or point --control at its API port (default http://127.0.0.1:15014)' : 'the control plane answered, but not with its status: see the message',
    });
    skipRest('needs the control plane');
    return finish();
  }
  checks.push({ name: CONTROL, status: 'ok', detail: `${o.control}${body.control === undefined ? '' : `, petrel ${body.control.version}${body.control.kubernetes ? ', Kubernetes' : ', local'}`}` });
  checks.push(policiesAccepted(body), sidecarsSynced(body), noVersionSkew(body, PETREL_VERSION), certificatesFresh(body, (o.now ?? Date.now)()));
  if (body.control?.kubernetes === true) {
    try {
      const cluster = await getJson<{ checks: CheckResult[] }>(o.control, '/v1/checks/kubernetes', token, 15_000);
      for (const c of cluster.checks) checks.push({ name: c.name, status: c.ok ? 'ok' : 'fail', detail: c.detail, hint: c.hint });
    } catch (err) {
      checks.push({ name: 'kubernetes', status: 'fail', detail: (err as Error).message, hint: 'the control plane could not run its cluster checks: its log says why (RBAC, API server reachability)' });
    }
  }
  return finish();
}
