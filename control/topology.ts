// GET /v1/topology, for the web view's graph: the services as nodes (each with its `petrel stat`
// row) and who calls whom as edges, caller -> callee, with the caller's numbers over the last 30 s.
// An edge comes from a sidecar's outbound series: the series names the service called, and the
// subscription that sent the summary names the caller (merged() sums callers together, so the
// edges are built from the per-sidecar summaries, stat-store.ts reports()).
import { STAT_WINDOW_SECONDS, StatAccumulator, type StatBody, type StatRow, type StatSummary } from '../api/stat-summary.ts';
import type { SidecarStatus } from './subscription.ts';

export interface TopologyNode {
  service: string;
  /** '' when only callers know the service (none of its own sidecars is connected). */
  namespace: string;
  /** Its connected sidecars, and how many of them hold the latest snapshot. */
  sidecars: number;
  synced: number;
  /** Its `petrel stat` row (its own sidecars' view when they report); null with no traffic in the window. */
  stat: (StatRow & { source: 'inbound' | 'outbound' }) | null;
}

export interface TopologyEdge extends StatRow {
  from: string;
  to: string;
}

export interface TopologyBody {
  windowSeconds: number;
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}

export interface TopologyInput {
  reports: readonly { id: string; summary: StatSummary }[];
  sidecars: readonly SidecarStatus[];
  stat: StatBody;
}

export function buildTopology(i: TopologyInput): TopologyBody {
  const nodes = new Map<string, TopologyNode>();
  const node = (service: string): TopologyNode => {
    let n = nodes.get(service);
    if (n === undefined) nodes.set(service, (n = { service, namespace: '', sidecars: 0, synced: 0, stat: null }));
    return n;
  };
  // A sidecar that left stays in the status table for a while: only connected ones count.
  for (const s of i.sidecars) {
    const n = node(s.service);
    if (n.namespace === '') n.namespace = s.namespace;
    if (!s.connected || s.deregistered) continue;
    n.sidecars++;
    if (s.state === 'SYNCED') n.synced++;
  }
  for (const row of i.stat.services) {
    const n = node(row.service);
    if (row.namespace !== '') n.namespace = row.namespace;
    const { service: _s, namespace: _n, routes: _r, ...stat } = row;
    n.stat = stat;
  }
  const serviceOf = new Map(i.sidecars.map((s) => [s.id, s.service]));
  const edges = new Map<string, { from: string; to: string; acc: StatAccumulator }>();
  for (const { id, summary } of i.reports) {
    const from = serviceOf.get(id);
    if (from === undefined) continue;
    for (const s of summary.series) {
      if (s.direction !== 'outbound') continue;
      const key = `${from}\0${s.service}`;
      let e = edges.get(key);
      if (e === undefined) edges.set(key, (e = { from, to: s.service, acc: new StatAccumulator() }));
      e.acc.add(s, summary.windowSeconds);
      node(from);
      node(s.service);
    }
  }
  return {
    windowSeconds: STAT_WINDOW_SECONDS,
    nodes: [...nodes.values()].sort((a, b) => a.service.localeCompare(b.service)),
    edges: [...edges.values()].map(({ from, to, acc }) => ({ from, to, ...acc.row() })).sort((a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to)),
  };
}
