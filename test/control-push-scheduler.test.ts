// The push scheduler on a fake clock: changes within the debounce window make one round, a sidecar
// that came back holding a config gets nothing during the startup grace (and the round at its end
// catches it up), and flush() pushes at once (deregistration does not wait for the window).
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { decodeFrame, type SnapshotFrame } from '../api/stream-messages.ts';
import { ControlMetrics } from '../control/metrics.ts';
import { PushScheduler } from '../control/push-scheduler.ts';
import type { ServiceRecord } from '../control/registry.ts';
import { Subscription } from '../control/subscription.ts';
import { FakeClock } from './harness/fake-clock.ts';

/** A subscription whose stream is an array of NDJSON lines. */
function subscription(service: string): { sub: Subscription; lines: string[] } {
  const lines: string[] = [];
  const res = { writableEnded: false, write: (l: string) => lines.push(l), once: () => res, destroy: () => undefined };
  return { sub: new Subscription(service, { service, namespace: 'default' }, '', service, res as unknown as ServerResponse), lines };
}

const snapshots = (lines: string[]) => lines.map((l) => decodeFrame(l)).filter((f): f is SnapshotFrame => f.type === 'snapshot');

function scheduler(clock: FakeClock, startupGraceMs: number, subs: Subscription[], services: ServiceRecord[]) {
  return new PushScheduler({
    debounceMs: 100, startupGraceMs, clock, subscriptions: () => subs, services: () => services, policies: () => [],
    metrics: new ControlMetrics(() => 0, () => 0), log: pino({ level: 'silent' }),
  });
}

describe('push scheduler', () => {
  it('coalesces changes within the debounce window into one push', () => {
    const clock = new FakeClock();
    const web = subscription('web');
    const services: ServiceRecord[] = [];
    const s = scheduler(clock, 0, [web.sub], services);
    s.start();
    s.subscribed(web.sub, undefined);
    assert.equal(snapshots(web.lines).length, 1, 'the first snapshot at subscribe');
    services.push({ name: 'a', namespace: 'default', endpoints: [{ address: '127.0.0.1:1', name: 'a' }] });
    s.schedule();
    clock.advance(50);
    services.push({ name: 'b', namespace: 'default', endpoints: [{ address: '127.0.0.1:2', name: 'b' }] });
    s.schedule();
    assert.equal(snapshots(web.lines).length, 1, 'nothing before the window ends');
    clock.advance(60);
    const pushed = snapshots(web.lines);
    assert.equal(pushed.length, 2, 'one push for both changes');
    assert.deepEqual((pushed[1]?.snapshot as { services: { name: string }[] }).services.map((x) => x.name), ['a', 'b']);
    s.schedule();
    clock.advance(200);
    assert.equal(snapshots(web.lines).length, 2, 'no push when the content did not change');
    s.stop();
  });

  it('holds pushes to a sidecar that resumed during the startup grace, and catches it up when the grace ends', () => {
    const clock = new FakeClock();
    const web = subscription('web');
    const services: ServiceRecord[] = [{ name: 'a', namespace: 'default', endpoints: [{ address: '127.0.0.1:1', name: 'a' }] }];
    const s = scheduler(clock, 6000, [web.sub], services);
    s.start();
    s.subscribed(web.sub, { version: 5, hash: 'stale' });
    assert.equal(snapshots(web.lines).length, 0, 'it keeps what it holds while the registry refills');
    clock.advance(5000);
    s.flush();
    assert.equal(snapshots(web.lines).length, 0, 'still within the grace');
    clock.advance(1200);
    const pushed = snapshots(web.lines);
    assert.equal(pushed.length, 1, 'the round at the end of the grace');
    assert.ok((pushed[0]?.snapshot as { version: number }).version > 5, 'a newer version than the one it held');
    s.stop();
  });

  it('flush() pushes at once, without waiting for the debounce window', () => {
    const clock = new FakeClock();
    const web = subscription('web');
    const services: ServiceRecord[] = [];
    const s = scheduler(clock, 0, [web.sub], services);
    s.start();
    s.subscribed(web.sub, undefined);
    services.push({ name: 'a', namespace: 'default', endpoints: [{ address: '127.0.0.1:1', name: 'a' }] });
    s.schedule();
    s.flush();
    assert.equal(snapshots(web.lines).length, 2);
    clock.advance(500);
    assert.equal(snapshots(web.lines).length, 2, 'the pending debounced round was folded into the flush');
    s.stop();
  });
});
