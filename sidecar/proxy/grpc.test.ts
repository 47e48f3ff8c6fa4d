import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeGrpcMessage, formatGrpcTimeout, grpcStatusForFlag, grpcStatusIsFailure, grpcStatusLabel, isGrpcContentType,
  parseGrpcStatus, parseGrpcTimeout, parsePushback,
} from './grpc.ts';

describe('gRPC on the wire', () => {
  it('knows a gRPC call by its content-type, and nothing else', () => {
    for (const ct of ['application/grpc', 'application/grpc+proto', 'application/grpc+json', 'application/grpc;charset=utf-8']) assert.equal(isGrpcContentType(ct), true, ct);
    for (const ct of [undefined, 'application/json', 'application/grpc-web', 'application/grpcx', 'text/plain']) assert.equal(isGrpcContentType(ct), false, String(ct));
  });

  it('reads grpc-timeout in every unit and ignores malformed ones', () => {
    assert.equal(parseGrpcTimeout('200m'), 200);
    assert.equal(parseGrpcTimeout('2S'), 2000);
    assert.equal(parseGrpcTimeout('1M'), 60_000);
    assert.equal(parseGrpcTimeout('1H'), 3_600_000);
    assert.equal(parseGrpcTimeout('5000u'), 5);
    assert.equal(parseGrpcTimeout('3000000n'), 3);
    for (const bad of [undefined, '', 'm', '12', '-5m', '1.5S', '123456789m', '10x']) assert.equal(parseGrpcTimeout(bad), undefined, String(bad));
  });

  it('writes the time left as grpc-timeout, within 8 digits', () => {
    assert.equal(formatGrpcTimeout(187.2), '188m');
    assert.equal(formatGrpcTimeout(0), '0m');
    assert.equal(formatGrpcTimeout(-5), '0m');
    assert.equal(formatGrpcTimeout(200_000_000), '200000S');
  });

  it('reads grpc-status and grpc-retry-pushback-ms strictly', () => {
    assert.equal(parseGrpcStatus('14'), 14);
    assert.equal(parseGrpcStatus(['0']), 0);
    assert.equal(parseGrpcStatus('x'), undefined);
    assert.equal(parsePushback(undefined), undefined);
    assert.equal(parsePushback('250'), 250);
    assert.equal(parsePushback('-1'), 'never');
    assert.equal(parsePushback('soon'), 'never');
  });

  it('maps each local decision to the gRPC status the design names', () => {
    for (const flag of ['UF', 'UC', 'UH', 'UO', 'URX'] as const) assert.equal(grpcStatusForFlag(flag, 503), 14, flag);
    assert.equal(grpcStatusForFlag('UT', 504), 4);
    assert.equal(grpcStatusForFlag('RL', 429), 8);
    assert.equal(grpcStatusForFlag('NR', 404), 12);
    assert.equal(grpcStatusForFlag('DPE', 400), 13);
    assert.equal(grpcStatusForFlag('FI', 503), 14);
    assert.equal(grpcStatusForFlag('FI', 403), 7);
  });

  it('counts what Linkerd counts as failures, and keeps the metric label bounded', () => {
    assert.deepEqual([2, 4, 13, 14, 15].map(grpcStatusIsFailure), [true, true, true, true, true]);
    assert.deepEqual([0, 1, 3, 5, 8, 12].map(grpcStatusIsFailure), [false, false, false, false, false, false]);
    assert.equal(grpcStatusLabel(undefined), '');
    assert.equal(grpcStatusLabel(16), '16');
    assert.equal(grpcStatusLabel(99), 'other');
  });

  it('percent-encodes grpc-message outside printable ASCII', () => {
    assert.equal(encodeGrpcMessage('no route: 100% "x"'), 'no route: 100%25 "x"');
    assert.equal(encodeGrpcMessage('línea\n'), 'l%C3%ADnea%0A');
  });
});
