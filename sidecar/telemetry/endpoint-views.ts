// The endpoints of the services this sidecar calls, as it sees them, for the stat summary it sends
// every few seconds (`petrel describe` on the control plane shows them, merged across callers): the
// same live state /config_dump shows (breaker, latency EWMA, in flight). A service is reported once
// this sidecar has called one of its endpoints (an attempt settled there) or holds one of its
// breakers open or half-open; every endpoint of it then, up to MAX_ENDPOINTS_PER_SERVICE by address,
// and MAX_ENDPOINT_VIEWS in all. Runs every few seconds, never on the request path.
import { MAX_ENDPOINT_VIEWS, MAX_ENDPOINTS_PER_SERVICE, type EndpointView } from '../../api/stat-summary.ts';
import type { CompiledSnapshot } from '../config/compiled.ts';

export function endpointViews(current: CompiledSnapshot | undefined): EndpointView[] {
  const out: EndpointView[] = [];
  for (const s of current?.services ?? []) {
    const called = s.endpoints.some((e) => e.stats.observed > 0 || e.stats.inflight > 0 || (e.breaker !== undefined && e.breaker.state !== 'closed'));
    if (!called) continue;
    const endpoints = [...s.endpoints].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)).slice(0, MAX_ENDPOINTS_PER_SERVICE);
    for (const e of endpoints) {
      if (out.length >= MAX_ENDPOINT_VIEWS) return out;
      out.push({
        service: s.id, address: e.address, name: e.name, circuit: e.breaker?.state ?? 'none',
        ewmaMs: Math.round(e.stats.ewmaMs * 1000) / 1000, inflight: Math.max(0, e.stats.inflight),
      });
    }
  }
  return out;
}
