import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_STAT_SERIES, STAT_BUCKETS } from '../../api/stat-summary.ts';
import { StatWindows } from './stat-window.ts';

describe('the petrel stat window', () => {
  const setup = () => {
    let now = 1_000_000;
    const windows = new StatWindows(() => now);
    return { windows, advance: (ms: number) => { now += ms; } };
  };

  it('sums requests, failures, retries and latency buckets over the last 30 s', () => {
    const { windows, advance } = setup();
    const w = windows.window('inbound', 'payments', 'default');
    for (let i = 0; i < 10; i++) w.record(i % 5 === 0, 3);
    w.retry();
    advance(10_000);
    w.record(false, STAT_BUCKETS - 1);
    const [s] = windows.summary().series;
    assert.deepEqual({ requests: s?.requests, failures: s?.failures, retries: s?.retries }, { requests: 11, failures: 2, retries: 1 });
    assert.equal(s?.buckets[3], 10);
    assert.equal(s?.buckets[STAT_BUCKETS - 1], 1);
    assert.equal(windows.summary().windowSeconds, 10, 'a window younger than 30 s says how long it covers');
  });

  it('drops what is older than 30 s, slot by slot, and leaves an idle window out of the summary', () => {
    const { windows, advance } = setup();
    const w = windows.window('outbound', 'payments', 'charge');
    w.record(false, 0);
    advance(15_000);
    w.record(true, 0);
    advance(16_000); // the first request is now 31 s old
    assert.deepEqual(windows.summary().series.map((s) => [s.requests, s.failures]), [[1, 1]]);
    assert.equal(windows.summary().windowSeconds <= 30, true);
    advance(30_000);
    assert.deepEqual(windows.summary().series, []);
    advance(3_600_000); // a jump longer than the ring clears it all
    w.record(false, 1);
    assert.equal(windows.summary().series[0]?.requests, 1);
  });

  it('is bounded: past the limit, new keys share one "other" window', () => {
    const { windows } = setup();
    for (let i = 0; i < MAX_STAT_SERIES + 20; i++) windows.window('outbound', `svc-${i}`, 'default').record(false, 0);
    const series = windows.summary().series;
    assert.equal(series.length, MAX_STAT_SERIES);
    assert.equal(series.find((s) => s.service === 'other')?.requests, 21);
  });
});
