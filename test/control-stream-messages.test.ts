// The config stream's messages (api/stream-messages.ts), which the control plane and the sidecar
// both encode and decode: every message round-trips, malformed ones are refused with a message that
// says what is wrong, and a snapshot frame spliced from compiled JSON decodes to a snapshot whose
// content hash is the one the control plane computed (the key order both ends depend on).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { snapshotContentHash } from '../api/snapshot-hash.ts';
import {
  decodeAck, decodeDeregister, decodeDeregisterReply, decodeFrame, decodeSubscribe, encodeAck, encodeDeregister, encodeFrame,
  encodeSnapshotFrame, encodeSubscribe, StreamMessageError, type SnapshotFrame,
} from '../api/stream-messages.ts';
import { validateSnapshot } from '../api/validate.ts';
import { CompiledRound, compileFor, PolicyIndex } from '../control/compiler.ts';

const refused = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof StreamMessageError && err.code === 'PETREL_BAD_STREAM_MESSAGE' && message.test(err.message));

describe('config stream messages', () => {
  it('round-trips a subscribe request, with and without what the sidecar holds', () => {
    const fresh = { service: 'web', namespace: 'shop', address: '127.0.0.1:15006', name: 'web-1', serviceAccount: 'web-sa', held: undefined, register: true };
    assert.deepEqual(decodeSubscribe(encodeSubscribe(fresh)), fresh);
    const resumed = { ...fresh, held: { version: 1_700_000_000_123, hash: 'ab12' }, register: false };
    assert.deepEqual(decodeSubscribe(encodeSubscribe(resumed)), resumed);
    // What sidecars before this module sent still decodes (no register flag: they register).
    assert.equal(decodeSubscribe(new URLSearchParams('service=web&namespace=default&address=127.0.0.1:1')).register, true);
    assert.equal(decodeSubscribe(new URLSearchParams('service=web')).serviceAccount, 'web', 'the service account defaults to the service name');
  });

  it('refuses a subscribe request that names no valid service or namespace', () => {
    refused(() => decodeSubscribe(new URLSearchParams('service=Web_1')), /subscribe: service and namespace must be DNS labels, got service="Web_1"/);
    refused(() => decodeSubscribe(new URLSearchParams('service=web&namespace=')), /DNS labels/);
    refused(() => decodeSubscribe(new URLSearchParams({ service: 'web', address: 'x'.repeat(300) })), /address is longer than 255/);
    refused(() => decodeSubscribe(new URLSearchParams({ service: 'web', serviceAccount: 'Evil/../x' })), /subscribe: serviceAccount must be a Kubernetes name/);
  });

  it('round-trips hello, ping, ack, deregister and its reply', () => {
    const hello = { type: 'hello' as const, id: 'sub-1', heartbeatMs: 10_000, secret: 's' };
    assert.deepEqual(decodeFrame(encodeFrame(hello).trimEnd()), hello);
    assert.deepEqual(decodeFrame(encodeFrame({ type: 'ping' })), { type: 'ping' });
    assert.ok(encodeFrame(hello).endsWith('}\n'), 'one NDJSON line');
    const nack = { id: 'sub-1', secret: 's', version: 7, status: 'NACK' as const, error: 'bad' };
    assert.deepEqual(decodeAck(encodeAck(nack)), nack);
    const withCert = { id: 'sub-1', secret: 's', version: 7, status: 'ACK' as const, identity: 'spiffe://cluster.local/ns/shop/sa/web', certNotAfter: '2030-01-01T00:00:00.000Z' };
    assert.deepEqual(decodeAck(encodeAck(withCert)), { ...withCert, error: undefined });
    refused(() => decodeAck(JSON.stringify({ ...withCert, identity: 'spiffe://x/y' })), /ack: identity must be a SPIFFE URI/);
    refused(() => decodeAck(JSON.stringify({ ...withCert, certNotAfter: 'soon' })), /ack: certNotAfter must be an ISO 8601 time/);
    assert.deepEqual(JSON.parse(encodeAck({ id: 'sub-1', version: 7, status: 'ACK' })), { id: 'sub-1', version: 7, status: 'ACK' }, 'no secret, no error: not sent');
    assert.deepEqual(decodeDeregister(encodeDeregister({ id: 'sub-1', secret: 's' })), { id: 'sub-1', secret: 's' });
    assert.deepEqual(decodeDeregisterReply('{"deregistered":"127.0.0.1:1"}'), { deregistered: '127.0.0.1:1' });
  });

  it('refuses malformed frames and bodies, saying what is wrong', () => {
    refused(() => decodeFrame('{"type":"hello"'), /stream frame: not JSON/);
    refused(() => decodeFrame('[1]'), /stream frame: must be a JSON object/);
    refused(() => decodeFrame('{"type":"surprise"}'), /unknown type "surprise"; expected hello, snapshot, ping or tap/);
    refused(() => decodeFrame('{"type":"hello","heartbeatMs":5}'), /hello: id must be a non-empty string/);
    refused(() => decodeFrame('{"type":"hello","id":"a","heartbeatMs":-1}'), /hello: heartbeatMs must be a positive number/);
    refused(() => decodeFrame('{"type":"snapshot","snapshot":"text"}'), /snapshot: the snapshot must be an object/);
    refused(() => decodeAck('{"id":"a","version":1,"status":"MAYBE"}'), /ack: status must be "ACK" or "NACK", got "MAYBE"/);
    refused(() => decodeAck('{"id":"a","version":"1","status":"ACK"}'), /ack: version must be an integer/);
    refused(() => decodeAck('{"version":1,"status":"ACK"}'), /ack: id must be the subscription id/);
    refused(() => decodeDeregister('{"id":"a"}'), /deregister: secret must be the stream secret/);
    refused(() => decodeDeregisterReply('{"deregistered":5}'), /deregistered must be an address or null/);
  });

  it('splices the version into compiled JSON so that the content hash survives the trip', () => {
    const round = new CompiledRound(
      [{ name: 'payments', namespace: 'default', endpoints: [{ address: '127.0.0.1:1', name: 'p-1' }] }],
      new PolicyIndex([{ kind: 'ResiliencePolicy', key: 'default/p', namespace: 'default', name: 'p', origin: 'test', spec: { targetRef: { kind: 'Service', name: 'payments' }, timeout: { total: '2s' } } }]),
    );
    const compiled = compileFor({ service: 'payments', namespace: 'default' }, round);
    const line = encodeSnapshotFrame(42, compiled.json);
    assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'), 'one NDJSON line');
    const frame = decodeFrame(line) as SnapshotFrame;
    assert.equal(frame.type, 'snapshot');
    const snapshot = frame.snapshot as { version: number };
    assert.equal(snapshot.version, 42);
    assert.deepEqual(validateSnapshot(snapshot), [], 'a valid snapshot');
    assert.equal(snapshotContentHash(snapshot), compiled.hash, 'the sidecar computes the hash the control plane did');
    refused(() => encodeSnapshotFrame(1, '{"kind":"SidecarSnapshot"}'), /must start with apiVersion and kind/);
    refused(() => encodeSnapshotFrame(0, compiled.json), /version must be a positive integer/);
  });
});
