import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StatusBody } from './api-server.ts';
import { certificatesFresh, noVersionSkew, policiesAccepted, sidecarsSynced } from './check-rules.ts';
import type { SidecarStatus } from './subscription.ts';

const NOW = Date.parse('2030-01-01T00:00:00Z');
const sidecar = (over: Partial<SidecarStatus>): SidecarStatus => ({
  id: 'x', service: 'payments', namespace: 'default', address: '127.0.0.1:1', name: 'p-0', version: 3, state: 'SYNCED', error: null,
  connected: true, deregistered: false, lastSeen: new Date(NOW).toISOString(), identity: null, certExpires: null, ...over,
});
const body = (sidecars: SidecarStatus[], over: Partial<StatusBody> = {}): StatusBody => ({
  sidecars, policies: { count: 1, rejected: [] }, control: { version: '1.2.3', kubernetes: false, certTtlMs: 24 * 3_600_000 }, ...over,
});
const hoursFromNow = (h: number) => new Date(NOW + h * 3_600_000).toISOString();

describe('petrel check rules', () => {
  it('certificates: fails under 10% of the lifetime left, never passes under 1 h', () => {
    assert.equal(certificatesFresh(body([sidecar({ certExpires: hoursFromNow(7) })]), NOW).status, 'ok');
    const close = certificatesFresh(body([sidecar({ certExpires: hoursFromNow(2) })]), NOW);
    assert.equal(close.status, 'fail', '2 h of a 24 h certificate is under 10%');
    assert.match(close.detail, /default\/payments p-0: 2h left/);
    const shortTtl = body([sidecar({ certExpires: hoursFromNow(0.5) })], { control: { version: '1', kubernetes: false, certTtlMs: 60_000 } });
    assert.equal(certificatesFresh(shortTtl, NOW).status, 'fail', '30 minutes is under the 1 h floor');
    assert.match(certificatesFresh(body([sidecar({ certExpires: hoursFromNow(-1) })]), NOW).detail, /expired/);
    assert.equal(certificatesFresh(body([], { control: { version: '1', kubernetes: false, certTtlMs: null } }), NOW).status, 'ok');
  });

  it('sidecars: a NACKED or vanished sidecar fails; one that deregistered and left does not', () => {
    assert.equal(sidecarsSynced(body([sidecar({}), sidecar({ connected: false, deregistered: true, state: 'STALE' })])).status, 'ok');
    const nacked = sidecarsSynced(body([sidecar({ state: 'NACKED', error: 'bad route' })]));
    assert.equal(nacked.status, 'fail');
    assert.match(nacked.detail, /NACKED \(bad route\)/);
    assert.equal(sidecarsSynced(body([sidecar({ connected: false, state: 'STALE' })])).status, 'fail');
  });

  it('policies and versions', () => {
    const rejected = policiesAccepted(body([], { policies: { count: 0, rejected: [{ origin: 'bad.yaml (document 1)', errors: ['spec.retry.attempts: must be >= 1'] }] } }));
    assert.equal(rejected.status, 'fail');
    assert.match(rejected.detail, /bad\.yaml \(document 1\): spec\.retry\.attempts/);
    assert.equal(noVersionSkew(body([]), '1.2.3').status, 'ok');
    assert.match(noVersionSkew(body([]), '1.3.0').detail, /the CLI is 1\.3\.0, the control plane 1\.2\.3/);
  });
});
