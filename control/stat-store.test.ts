import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { histogramQuantileMs, STAT_BUCKETS, type StatSeries } from '../api/stat-summary.ts';
import { LATENCY_BUCKETS } from '../sidecar/telemetry/request-series.ts';
import { STAT_MAX_AGE_MS, StatStore } from './stat-store.ts';

const bucketsAt = (index: number, n: number) => Array.from({ length: STAT_BUCKETS }, (_, i) => (i === index ? n : 0));
const series = (over: Partial<StatSeries>): StatSeries => ({ direction: 'inbound', service: 'payments', route: 'default', requests: 0, failures: 0, retries: 0, buckets: bucketsAt(0, 0), ...over });

describe('merging sidecar stat summaries', () => {
  it('sums counters and buckets across sidecars and takes quantiles from the merged histogram', () => {
    let now = 0;
    const store = new StatStore(() => now);
    // Two payments sidecars: 100 requests at <= 5 ms (10 failed), 100 at 50-100 ms (30 failed).
    store.report('a', 'shop', { windowSeconds: 30, series: [series({ requests: 100, failures: 10, buckets: bucketsAt(2, 100) })] });
    store.report('b', 'shop', { windowSeconds: 30, series: [series({ requests: 100, failures: 30, buckets: bucketsAt(6, 100) })] });
    // A caller: its outbound view per route, with retries.
    store.report('c', 'shop', { windowSeconds: 10, series: [series({ direction: 'outbound', route: 'charge', requests: 50, failures: 5, retries: 20, buckets: bucketsAt(2, 50) })] });
    const body = store.merged();
    assert.equal(body.sidecars, 3);
    const [payments] = body.services;
    assert.equal(payments?.service, 'payments');
    assert.equal(payments?.namespace, 'shop');
    assert.equal(payments?.source, 'inbound');
    assert.equal(payments?.successRate, 0.8, 'inbound is the truth: 40 failed of 200');
    assert.equal(payments?.requestsPerSecond, 6.67);
    assert.equal(payments?.retriesPerSecond, 2, 'the callers\' retries, each over its own window');
    assert.equal(payments?.p50Ms, LATENCY_BUCKETS[2]! * 1000, 'the median is the top of the fast bucket');
    assert.ok(payments!.p99Ms! > 50 && payments!.p99Ms! <= 100, `p99 ${payments?.p99Ms} lies in the slow bucket`);
    assert.deepEqual(payments?.routes.map((r) => [r.route, r.requestsPerSecond, r.successRate]), [['charge', 5, 0.9]]);
    now += STAT_MAX_AGE_MS + 1;
    assert.deepEqual(store.merged(), { windowSeconds: 30, sidecars: 0, services: [] }, 'silent sidecars age out');
  });

  it('interpolates inside a bucket and answers the +Inf bucket with the highest bound', () => {
    assert.equal(histogramQuantileMs(bucketsAt(0, 0), 0.5), null);
    assert.equal(histogramQuantileMs(bucketsAt(0, 10), 0.5), 0.5);
    assert.equal(histogramQuantileMs(bucketsAt(STAT_BUCKETS - 1, 10), 0.99), LATENCY_BUCKETS.at(-1)! * 1000);
  });
});

describe('the stat report on the wire', () => {
  it('stays under the stream server\'s body limit, keeping the busiest series', async () => {
    const { decodeStatReport, encodeStatReport, MAX_STAT_REPORT_BYTES, MAX_STAT_SERIES } = await import('../api/stat-summary.ts');
    const long = 'x'.repeat(253);
    const many = Array.from({ length: MAX_STAT_SERIES }, (_, i) => series({ service: `${long.slice(3)}${String(i).padStart(3, '0')}`, route: long, requests: i }));
    const text = encodeStatReport({ id: 'a', secret: 's', windowSeconds: 30, series: many });
    assert.ok(text.length <= MAX_STAT_REPORT_BYTES);
    const decoded = decodeStatReport(text);
    assert.ok(decoded.series.length > 0 && decoded.series.length < MAX_STAT_SERIES);
    assert.equal(decoded.series[0]?.requests, MAX_STAT_SERIES - 1, 'the busiest first');
    assert.throws(() => decodeStatReport(JSON.stringify({ id: 'a', secret: 's', windowSeconds: 30, series: [{ ...many[0], buckets: [1] }] })), /buckets: must be 15 non-negative numbers/);
  });
});
