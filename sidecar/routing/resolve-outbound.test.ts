// Where a call goes: a redirected connection by the address the app dialled (a ClusterIP is its
// Service, a pod's address that pod), whatever its Host says; otherwise by Host; else passthrough.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompiledSnapshot, ServiceTarget } from '../config/compiled.ts';
import { resolveOutbound } from './resolve-outbound.ts';
import type { SelfAddresses } from './self-address.ts';

const target = (id: string): ServiceTarget => ({ id, ports: undefined }) as unknown as ServiceTarget;
const payments = target('payments.shop');
const ledger = target('ledger.shop');
const pod = target('payments.shop pinned to 10.1.0.7:8080');
const snapshot = {
  hosts: new Map([['payments', payments], ['ledger', ledger], ['10.96.0.10', payments], ['10.96.0.20', ledger]]),
  pinned: (address: string) => (address === '10.1.0.7:8080' ? pod : undefined),
  passthrough: true,
} as unknown as CompiledSnapshot;
const self = { isSelf: () => false } as unknown as SelfAddresses;
const dialled = (host: string, port: number) => ({ host, port, address: `${host}:${port}` });

describe('resolveOutbound', () => {
  it('a redirected connection to a ClusterIP goes to its Service, whatever the Host names (MeshClusterIPMatching)', () => {
    assert.equal(resolveOutbound(snapshot, { host: 'ledger', port: undefined, redirectedFrom: dialled('10.96.0.10', 80) }, self), payments);
  });

  it('a redirected connection to a pod\'s address goes to that pod, even with a Service in its Host', () => {
    assert.equal(resolveOutbound(snapshot, { host: 'payments', port: undefined, redirectedFrom: dialled('10.1.0.7', 8080) }, self), pod);
    assert.equal(resolveOutbound(snapshot, { host: '10.1.0.7', port: 8080, redirectedFrom: dialled('10.1.0.7', 8080) }, self), pod);
  });

  it('otherwise the Host decides, then passthrough to where the app dialled', () => {
    assert.equal(resolveOutbound(snapshot, { host: 'ledger', port: undefined, redirectedFrom: dialled('203.0.113.9', 80) }, self), ledger);
    assert.equal(resolveOutbound(snapshot, { host: 'ledger', port: 80, redirectedFrom: undefined }, self), ledger);
    assert.deepEqual(resolveOutbound(snapshot, { host: 'example.org', port: undefined, redirectedFrom: dialled('203.0.113.9', 443) }, self),
      { kind: 'passthrough', host: '203.0.113.9', port: 443, address: '203.0.113.9:443' });
  });
});
