// `petrel status`: the control plane's view of every sidecar, like istioctl proxy-status.
// With a token configured the control plane wants it here too: `--token-file F`.
import { readFile } from 'node:fs/promises';
import type { StatusBody } from './api-server.ts';

export async function runStatus(control: string, output: string, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`), tokenFile?: string): Promise<number> {
  let token: string | undefined;
  if (tokenFile !== undefined) {
    token = await readFile(tokenFile, 'utf8').then((t) => t.trim(), (err: Error) => { out(`petrel status: cannot read --token-file ${tokenFile}: ${err.message}`); return undefined; });
    if (token === undefined) return 1;
    if (token === '') {
      out(`petrel status: ${tokenFile} is empty; a token file holds the shared secret`);
      return 1;
    }
  }
  let body: StatusBody;
  try {
    const res = await fetch(new URL('/v1/status', control), { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    if (!res.ok) {
      const detail = ((await res.json().catch(() => ({}))) as { error?: unknown }).error;
      const hint = res.status === 401 ? (token === undefined ? ' (pass --token-file with the control plane\'s token)' : ' (the token in --token-file is not the control plane\'s)') : '';
      throw new Error(`HTTP ${res.status}${typeof detail === 'string' ? `: ${detail}` : ''}${hint}`);
    }
    body = await res.json() as StatusBody;
  } catch (err) {
    out(`petrel status: cannot read ${control}/v1/status: ${(err as Error).message}`);
    return 1;
  }
  if (output === 'json') {
    out(JSON.stringify(body, null, 2));
    return 0;
  }
  const rows = [['SERVICE', 'NAMESPACE', 'ADDRESS', 'NAME', 'VERSION', 'STATUS', 'LAST SEEN', 'IDENTITY', 'CERT EXPIRES', 'ERROR']];
  for (const s of body.sidecars) {
    rows.push([s.service, s.namespace, s.address, s.name, String(s.version ?? '-'), `${s.state}${s.connected ? '' : ' (disconnected)'}${s.deregistered === true ? ' (deregistered)' : ''}`, s.lastSeen, s.identity ?? '-', s.certExpires ?? '-', s.error ?? '']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) out(r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd());
  out(`${body.policies.count} polic${body.policies.count === 1 ? 'y' : 'ies'} in force`);
  for (const r of body.policies.rejected) out(`rejected ${r.origin} (its last good version stays in force):\n  ${r.errors.join('\n  ')}`);
  return 0;
}
