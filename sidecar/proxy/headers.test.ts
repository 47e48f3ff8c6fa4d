import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { downstreamHeaders, upstreamHeaders } from './headers.ts';

const pairs = (flat: string[]) => Array.from({ length: flat.length / 2 }, (_, i) => `${flat[2 * i]}: ${flat[2 * i + 1]}`);

describe('upstreamHeaders', () => {
  it('drops hop-by-hop headers and those named in Connection, keeps the rest in order', () => {
    const up = upstreamHeaders([
      'Host', 'payments', 'Connection', 'keep-alive, X-Private', 'X-Private', 'secret', 'Keep-Alive', 'timeout=5',
      'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Proxy-Authorization', 'Basic x', 'TE', 'trailers', 'X-Custom', '1',
      'x-request-id', 'abc',
    ], '10.0.0.1');
    assert.deepEqual(pairs(up.headers), ['Host: payments', 'te: trailers', 'X-Custom: 1', 'x-request-id: abc', 'x-forwarded-for: 10.0.0.1', 'x-forwarded-proto: http']);
    assert.equal(up.requestId, 'abc');
    assert.equal(up.hasBody, true);
  });

  it('appends to x-forwarded-for, keeps x-forwarded-proto, generates a request id', () => {
    const up = upstreamHeaders(['host', 'a', 'X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2', 'x-forwarded-proto', 'https'], '127.0.0.1');
    assert.deepEqual(pairs(up.headers).slice(0, 2), ['host: a', 'x-forwarded-proto: https']);
    assert.ok(up.headers.includes('1.1.1.1, 2.2.2.2, 127.0.0.1'));
    assert.match(up.requestId, /^[0-9a-f-]{36}$/);
    assert.ok(up.headers.includes(up.requestId));
    assert.equal(up.hasBody, false);
  });

  it('takes the peer header out and reports it', () => {
    const up = upstreamHeaders(['host', 'a', 'x-petrel-peer', 'web'], undefined);
    assert.equal(up.peer, 'web');
    assert.ok(!up.headers.includes('x-petrel-peer'));
  });

  it('keeps Upgrade for tunnels', () => {
    const up = upstreamHeaders(['host', 'a', 'Connection', 'Upgrade', 'Upgrade', 'websocket'], undefined, true);
    assert.ok(pairs(up.headers).includes('Upgrade: websocket'));
    assert.ok(pairs(up.headers).includes('connection: upgrade'));
  });

  it('sees a body only for chunked or non-zero Content-Length', () => {
    assert.equal(upstreamHeaders(['content-length', '0'], undefined).hasBody, false);
    assert.equal(upstreamHeaders(['content-length', '10'], undefined).hasBody, true);
  });
});

describe('downstreamHeaders', () => {
  it('drops hop-by-hop and Connection-named response headers', () => {
    const h = downstreamHeaders({ connection: 'x-a, close', 'x-a': '1', 'transfer-encoding': 'chunked', 'keep-alive': 'timeout=5', 'x-b': '2', 'set-cookie': ['a=1', 'b=2'] });
    assert.deepEqual(h, { 'x-b': '2', 'set-cookie': ['a=1', 'b=2'] });
  });
});
