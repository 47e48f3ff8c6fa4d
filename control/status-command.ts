// `petrel status`: the control plane's view of every sidecar, like istioctl proxy-status.
import type { SidecarStatus } from './subscription.ts';

export async function runStatus(control: string, output: string, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  let body: { sidecars: SidecarStatus[]; policies: { count: number; rejected: { origin: string; errors: string[] }[] } };
  try {
    const res = await fetch(new URL('/v1/status', control));
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json() as typeof body;
  } catch (err) {
    out(`petrel status: cannot read ${control}/v1/status: ${(err as Error).message}`);
    return 1;
  }
  if (output === 'json') {
    out(JSON.stringify(body, null, 2));
    return 0;
  }
  const rows = [['SERVICE', 'NAMESPACE', 'ADDRESS', 'NAME', 'VERSION', 'STATUS', 'LAST SEEN', 'ERROR']];
  for (const s of body.sidecars) {
    rows.push([s.service, s.namespace, s.address, s.name, String(s.version ?? '-'), s.connected ? s.state : `${s.state} (disconnected)`, s.lastSeen, s.error ?? '']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) out(r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  out(`${body.policies.count} polic${body.policies.count === 1 ? 'y' : 'ies'} in force`);
  for (const r of body.policies.rejected) out(`rejected ${r.origin} (its last good version stays in force):\n  ${r.errors.join('\n  ')}`);
  return 0;
}
