// HTTPRoute matching as the Gateway API defines it, on the parts the sidecar owns: element-wise
// PathPrefix, Exact path, method, Exact headers (case-insensitive names) and query parameters, and
// first-match-wins over the control plane's precedence order. Also the path modifiers of URLRewrite
// and RequestRedirect, and the header modifiers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { compileMatch, firstMatch, pathHasPrefix } from './route-match.ts';
import { modifyPath } from './path-modifier.ts';
import { HeaderModifier } from '../proxy/header-modifier.ts';
import type { Exchange } from '../proxy/exchange.ts';

const ex = (method: string, path: string, headers: IncomingHttpHeaders = {}) => ({ method, path, requestHeaders: headers }) as unknown as Exchange;

describe('HTTPRoute matches', () => {
  test('PathPrefix matches by path elements; a trailing slash of the prefix is ignored', () => {
    assert.ok(pathHasPrefix('/foo', '/foo'));
    assert.ok(pathHasPrefix('/foo/bar', '/foo'));
    assert.ok(!pathHasPrefix('/foobar', '/foo'));
    assert.ok(pathHasPrefix('/anything', ''));
    const m = compileMatch({ path: { type: 'PathPrefix', value: '/foo/' } }, 0);
    assert.ok(firstMatch([m], ex('GET', '/foo')) !== undefined);
    assert.ok(firstMatch([m], ex('GET', '/foo/x?y=1')) !== undefined);
    assert.equal(firstMatch([m], ex('GET', '/foox')), undefined);
  });

  test('Exact path, method, headers (names case-insensitive) and query parameters all must hold', () => {
    const m = compileMatch({
      path: { type: 'Exact', value: '/v1/pay' }, method: 'POST',
      headers: [{ name: 'X-Version', value: 'two' }], queryParams: [{ name: 'mode', value: 'fast' }],
    }, 3);
    assert.equal(firstMatch([m], ex('POST', '/v1/pay?mode=fast', { 'x-version': 'two' }))?.rule, 3);
    assert.equal(firstMatch([m], ex('POST', '/v1/pay/?mode=fast', { 'x-version': 'two' })), undefined, 'Exact is exact');
    assert.equal(firstMatch([m], ex('GET', '/v1/pay?mode=fast', { 'x-version': 'two' })), undefined);
    assert.equal(firstMatch([m], ex('POST', '/v1/pay?mode=slow', { 'x-version': 'two' })), undefined);
    assert.equal(firstMatch([m], ex('POST', '/v1/pay?mode=fast', { 'x-version': 'Two' })), undefined, 'values are exact');
    assert.equal(firstMatch([m], ex('POST', '/v1/pay', { 'x-version': 'two' })), undefined);
  });

  test('the first match in the given order wins; no match is undefined (the sidecar answers 404 NR)', () => {
    const matches = [
      compileMatch({ path: { type: 'Exact', value: '/a' } }, 0),
      compileMatch({ path: { type: 'PathPrefix', value: '/a' } }, 1),
      compileMatch({}, 2), // the implicit PathPrefix "/"
    ];
    assert.equal(firstMatch(matches, ex('GET', '/a'))?.rule, 0);
    assert.equal(firstMatch(matches, ex('GET', '/a/b'))?.rule, 1);
    assert.equal(firstMatch(matches, ex('GET', '/zzz'))?.rule, 2);
    assert.equal(firstMatch(matches.slice(0, 2), ex('GET', '/zzz')), undefined);
  });
});

describe('path and header modifiers', () => {
  test('ReplaceFullPath and ReplacePrefixMatch keep the query; prefix replacement is element-wise', () => {
    assert.equal(modifyPath({ type: 'ReplaceFullPath', value: '/new' }, '/old/x?q=1', '/old'), '/new?q=1');
    assert.equal(modifyPath({ type: 'ReplacePrefixMatch', value: '/v2' }, '/v1/items?q=1', '/v1'), '/v2/items?q=1');
    assert.equal(modifyPath({ type: 'ReplacePrefixMatch', value: '/v2' }, '/v1', '/v1'), '/v2');
    assert.equal(modifyPath({ type: 'ReplacePrefixMatch', value: '/' }, '/v1/items', '/v1'), '/items');
    assert.equal(modifyPath({ type: 'ReplacePrefixMatch', value: '/' }, '/v1', '/v1'), '/');
  });

  test('set replaces, add appends, remove drops, names case-insensitive', () => {
    const m = new HeaderModifier({ set: [{ name: 'X-Set', value: 'new' }], add: [{ name: 'x-add', value: 'b' }], remove: ['X-Gone'] });
    const list = ['X-Set', 'old', 'x-add', 'a', 'x-gone', 'bye', 'keep', 'me'];
    m.applyToList(list);
    assert.deepEqual(list, ['x-add', 'a,b', 'keep', 'me', 'x-set', 'new']);
    const obj: IncomingHttpHeaders = { 'x-set': 'old', 'x-gone': 'bye' };
    m.applyToObject(obj);
    assert.deepEqual(obj, { 'x-set': 'new', 'x-add': 'b' });
  });
});
