// `petrel check`'s judgements, as pure functions of what the control plane reported and the time,
// so that each rule is tested without a mesh (check-rules.test.ts) and the command only fetches and
// prints (check-command.ts).
import type { StatusBody } from './api-server.ts';

export type CheckStatus = 'ok' | 'fail' | 'skip';

export interface CheckLine {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a failure. */
  hint?: string | undefined;
}

/**
 * A workload certificate fails the check with less than this share of its lifetime left. Sidecars
 * renew at 70%, so a healthy one always has 30% or more: under 10% means renewal has been failing
 * for a long while (and under 1 h, whatever the lifetime, is too close to call healthy).
 */
export const CERT_MIN_LEFT_SHARE = 0.1;
export const CERT_MIN_LEFT_MS = 3_600_000;

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export function policiesAccepted(body: StatusBody): CheckLine {
  const name = 'policies accepted';
  const rejected = body.policies.rejected;
  if (rejected.length === 0) return { name, status: 'ok', detail: `${plural(body.policies.count, 'policy', 'policies')} in force, none rejected` };
  return {
    name, status: 'fail',
    detail: `${rejected.length} rejected: ${rejected.map((r) => `${r.origin}: ${r.errors[0] ?? 'rejected'}${r.errors.length > 1 ? ` (+${r.errors.length - 1} more)` : ''}`).join('; ')}`,
    hint: 'fix each file or resource named (petrel validate -f FILE shows every error); until then its last good version stays in force',
  };
}

export function sidecarsSynced(body: StatusBody): CheckLine {
  const name = 'sidecars synced';
  // A sidecar that deregistered and went away left on purpose; one that vanished without a word did not.
  const relevant = body.sidecars.filter((s) => s.connected || !s.deregistered);
  const behind = relevant.filter((s) => s.state !== 'SYNCED');
  if (behind.length === 0) return { name, status: 'ok', detail: relevant.length === 0 ? 'no sidecars connected' : `${plural(relevant.length, 'sidecar', 'sidecars')} SYNCED` };
  return {
    name, status: 'fail',
    detail: behind.map((s) => `${s.namespace}/${s.service} ${s.name}: ${s.state}${s.connected ? '' : ' (disconnected)'}${s.error === null ? '' : ` (${s.error})`}`).join('; '),
    hint: 'petrel status shows every sidecar; a NACKED one says what it refused, a STALE one has not acknowledged the latest version or lost its stream',
  };
}

export function noVersionSkew(body: StatusBody, cliVersion: string): CheckLine {
  const name = 'no version skew';
  const control = body.control?.version;
  if (control === cliVersion) return { name, status: 'ok', detail: `CLI and control plane are both ${cliVersion}` };
  return {
    name, status: 'fail',
    detail: control === undefined ? `the control plane does not report its version (older than this CLI ${cliVersion})` : `the CLI is ${cliVersion}, the control plane ${control}`,
    hint: 'run the CLI of the same release as the control plane (or upgrade the control plane)',
  };
}

/** Sidecar certificates, from their last ACK: each has at least max(10% of --cert-ttl, 1 h) left. */
export function certificatesFresh(body: StatusBody, now: number): CheckLine {
  const name = 'certificates not close to expiry';
  const ttl = body.control?.certTtlMs;
  if (ttl === null) return { name, status: 'ok', detail: 'identity is off (--no-identity): no workload certificates' };
  const minLeft = Math.max(ttl === undefined ? 0 : ttl * CERT_MIN_LEFT_SHARE, CERT_MIN_LEFT_MS);
  const withCert = body.sidecars.filter((s) => s.connected && s.certExpires !== null);
  const close = withCert.filter((s) => Date.parse(s.certExpires as string) - now < minLeft);
  if (close.length === 0) {
    return { name, status: 'ok', detail: withCert.length === 0 ? 'no sidecar reported a certificate yet' : `${plural(withCert.length, 'certificate', 'certificates')} with more than ${formatMs(minLeft)} left` };
  }
  return {
    name, status: 'fail',
    detail: close.map((s) => {
      const left = Date.parse(s.certExpires as string) - now;
      return `${s.namespace}/${s.service} ${s.name}: ${left <= 0 ? 'expired' : `${formatMs(left)} left`} (${s.certExpires})`;
    }).join('; '),
    hint: `sidecars renew at 70% of the lifetime; one under ${formatMs(minLeft)} cannot renew: check its log for certificate errors and that it reaches the control plane's stream port`,
  };
}

function formatMs(ms: number): string {
  if (ms >= 3_600_000) return `${Math.round(ms / 360_000) / 10}h`;
  if (ms >= 60_000) return `${Math.round(ms / 6_000) / 10}m`;
  return `${Math.round(ms / 1000)}s`;
}
