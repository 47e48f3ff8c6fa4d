// `petrel stat`: golden signals per service and route over the last 30 s, from the sidecars (their
// summaries merged by the control plane, GET /v1/stat), not from Prometheus. A service's row is
// what its own sidecars saw (inbound) when they report; its route rows are its callers' view, per
// route name, where retries happen. -w redraws every WATCH_MS until interrupted.
import type { ServiceStat, StatBody, StatRow } from '../api/stat-summary.ts';
import { getJson, readApiToken } from './api-client.ts';

export const WATCH_MS = 2_000;

export interface StatOptions {
  control: string;
  tokenFile?: string | undefined;
  output: string;
  watch: boolean;
  out?: (line: string) => void;
}

export async function runStat(o: StatOptions): Promise<number> {
  const out = o.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  let token: string | undefined;
  try {
    token = await readApiToken(o.tokenFile);
  } catch (err) {
    out(`petrel stat: ${(err as Error).message}`);
    return 1;
  }
  const once = async (): Promise<boolean> => {
    let body: StatBody;
    try {
      body = await getJson<StatBody>(o.control, '/v1/stat', token);
    } catch (err) {
      out(`petrel stat: ${(err as Error).message}`);
      return false;
    }
    if (o.output === 'json') out(o.watch ? JSON.stringify(body) : JSON.stringify(body, null, 2));
    else {
      // On a terminal a watch redraws in place; piped, each refresh simply follows the last.
      if (o.watch && process.stdout.isTTY) process.stdout.write('\x1b[2J\x1b[H');
      for (const line of formatStat(body)) out(line);
    }
    return true;
  };
  if (!o.watch) return (await once()) ? 0 : 1;
  for (;;) {
    // A watch survives a control plane restart: the error line shows, the next refresh recovers.
    await once();
    await new Promise((r) => setTimeout(r, WATCH_MS));
  }
}

/** The table: one row per service, then one per route (indented), and a line saying what the numbers are. */
export function formatStat(body: StatBody): string[] {
  const rows: string[][] = [['NAME', 'RPS', 'SUCCESS', 'P50', 'P95', 'P99', 'RETRIES/S']];
  for (const s of body.services) {
    rows.push([serviceName(s), ...cells(s)]);
    for (const r of s.routes) rows.push([`  route ${r.route}`, ...cells(r)]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const lines = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ').trimEnd());
  if (body.services.length === 0) lines.push('no traffic in the window');
  lines.push(`last ${body.windowSeconds} s, from ${body.sidecars} sidecar${body.sidecars === 1 ? '' : 's'}; service rows: its own sidecars (inbound) when they report, route rows: its callers`);
  return lines;
}

function serviceName(s: ServiceStat): string {
  return s.namespace === '' ? s.service : `${s.service}.${s.namespace}`;
}

function cells(r: StatRow): string[] {
  return [
    r.requestsPerSecond.toFixed(2),
    r.successRate === null ? '-' : `${(r.successRate * 100).toFixed(2)}%`,
    ms(r.p50Ms), ms(r.p95Ms), ms(r.p99Ms),
    r.retriesPerSecond.toFixed(2),
  ];
}

function ms(v: number | null): string {
  if (v === null) return '-';
  return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v < 10 ? v.toFixed(2) : v.toFixed(1)}ms`;
}
