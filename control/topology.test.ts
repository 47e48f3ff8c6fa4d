import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STAT_BUCKETS, type StatSeries } from '../api/stat-summary.ts';
import { STAT_MAX_AGE_MS, StatStore } from './stat-store.ts';
import type { SidecarStatus } from './subscription.ts';
import { buildTopology } from './topology.ts';

const buckets = (index: number, n: number) => Array.from({ length: STAT_BUCKETS }, (_, i) => (i === index ? n : 0));
const series = (over: Partial<StatSeries>): StatSeries => ({ direction: 'outbound', service: 'payments', route: 'default', requests: 0, failures: 0, retries: 0, buckets: buckets(0, 0), ...over });
const sidecar = (id: string, service: string, over: Partial<SidecarStatus> = {}): SidecarStatus => ({
  id, service, namespace: 'shop', address: `10.0.0.${id.length}:15006`, name: id, version: 1, state: 'SYNCED', error: null,
  connected: true, deregistered: false, lastSeen: new Date(0).toISOString(), identity: null, certExpires: null, ...over,
});

describe('the web view topology', () => {
  it('makes an edge per caller service and callee from the reporting sidecars\' outbound series', () => {
    let now = 0;
    const store = new StatStore(() => now);
    // Two web sidecars call payments (one also calls ledger); checkout calls payments too.
    store.report('web-a', 'shop', { windowSeconds: 10, series: [series({ requests: 100, failures: 10, retries: 5, buckets: buckets(2, 100) }), series({ service: 'ledger', requests: 20, buckets: buckets(1, 20) })] });
    store.report('web-b', 'shop', { windowSeconds: 10, series: [series({ requests: 100, failures: 30, buckets: buckets(2, 100) })] });
    store.report('checkout-a', 'shop', { windowSeconds: 20, series: [series({ requests: 40, buckets: buckets(2, 40) })] });
    // payments' own sidecar: its inbound view becomes the node's numbers, and makes no edge.
    store.report('payments-a', 'shop', { windowSeconds: 10, series: [series({ direction: 'inbound', requests: 240, failures: 40, buckets: buckets(2, 240) })] });
    const sidecars = [sidecar('web-a', 'web'), sidecar('web-b', 'web', { state: 'STALE' }), sidecar('checkout-a', 'checkout'), sidecar('payments-a', 'payments'),
      sidecar('old', 'payments', { connected: false })];
    const t = buildTopology({ reports: store.reports(), sidecars, stat: store.merged() });
    assert.deepEqual(t.edges.map((e) => [e.from, e.to, e.requestsPerSecond, e.successRate, e.retriesPerSecond]), [
      ['checkout', 'payments', 2, 1, 0],
      ['web', 'ledger', 2, 1, 0],
      ['web', 'payments', 20, 0.8, 0.5],
    ]);
    assert.ok(t.edges.every((e) => e.p99Ms !== null));
    assert.deepEqual(t.nodes.map((n) => [n.service, n.namespace, n.sidecars, n.synced, n.stat?.successRate ?? null, n.stat?.source ?? null]), [
      ['checkout', 'shop', 1, 1, null, null],
      ['ledger', '', 0, 0, 1, 'outbound'],
      ['payments', 'shop', 1, 1, 0.8333, 'inbound'],
      ['web', 'shop', 2, 1, null, null],
    ]);
    now += STAT_MAX_AGE_MS + 1;
    const later = buildTopology({ reports: store.reports(), sidecars, stat: store.merged() });
    assert.deepEqual(later.edges, [], 'silent sidecars\' edges age out with their summaries');
  });

  it('leaves out a summary whose subscription is unknown', () => {
    const store = new StatStore();
    store.report('gone', 'shop', { windowSeconds: 10, series: [series({ requests: 5, buckets: buckets(0, 5) })] });
    const t = buildTopology({ reports: store.reports(), sidecars: [], stat: store.merged() });
    assert.deepEqual(t.edges, []);
    assert.deepEqual(t.nodes.map((n) => n.service), ['payments'], 'the callee still shows, from the merged stat');
  });
});
