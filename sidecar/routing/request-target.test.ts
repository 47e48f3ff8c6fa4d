import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isLoopbackAddress, parseAuthority, requestTarget } from './request-target.ts';

describe('requestTarget', () => {
  it('reads origin-form with a Host header', () => {
    assert.deepEqual(requestTarget('/a?b=1', 'Payments:8080'), { host: 'payments', port: 8080, authority: 'Payments:8080', path: '/a?b=1', absoluteForm: false });
    assert.equal(typeof requestTarget('/a', undefined), 'string');
  });

  it('reads absolute-form as a proxy sees it', () => {
    assert.deepEqual(requestTarget('http://payments.shop/v1?x', 'ignored'), { host: 'payments.shop', port: undefined, authority: 'payments.shop', path: '/v1?x', absoluteForm: true });
    assert.deepEqual(requestTarget('http://[::1]:81', undefined), { host: '::1', port: 81, authority: '[::1]:81', path: '/', absoluteForm: true });
    for (const bad of ['https://secure/', '*', 'foo', 'payments:80', 'http://user@payments/', '/a#b', 'http://a:b/']) {
      assert.equal(typeof requestTarget(bad, 'payments'), 'string', bad);
    }
    assert.deepEqual(requestTarget('http://payments?x=1', undefined), { host: 'payments', port: undefined, authority: 'payments', path: '/?x=1', absoluteForm: true });
  });

  it('rejects malformed authorities', () => {
    for (const bad of ['', ':80', 'a:b', 'a:70000', 'a b', 'user@host', '[::1', '[::1]x']) assert.equal(parseAuthority(bad), undefined, bad);
  });

  it('knows loopback addresses', () => {
    assert.ok(isLoopbackAddress('127.0.0.1'));
    assert.ok(isLoopbackAddress('::ffff:127.0.0.2'));
    assert.ok(isLoopbackAddress('::1'));
    assert.ok(!isLoopbackAddress('10.0.0.1'));
    assert.ok(!isLoopbackAddress(undefined));
  });
});
