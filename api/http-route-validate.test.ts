// HTTPRoute validation: a mesh route with every implemented feature passes; each refusal names its
// field path and says why (the spec's limits and CEL rules, or what Petrel does not implement).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateHttpRouteDocument, validateSnapshot } from './validate.ts';

const route = (spec: unknown, metadata: Record<string, unknown> = {}) => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'payments', namespace: 'shop', ...metadata }, spec,
});
const parent = { group: '', kind: 'Service', name: 'payments', port: 80 };
const lines = (doc: unknown) => validateHttpRouteDocument(doc).map((i) => `${i.path}: ${i.message}`);
const rule = (r: unknown) => route({ parentRefs: [parent], rules: [r] });

describe('HTTPRoute validation', () => {
  it('accepts a mesh route with every implemented feature', () => {
    const doc = route({
      parentRefs: [parent, { group: '', kind: 'Service', name: 'payments', namespace: 'shop', sectionName: 'http' }],
      hostnames: [],
      rules: [
        {
          name: 'v2-canary',
          matches: [
            { path: { type: 'Exact', value: '/v1/charge' }, method: 'POST', headers: [{ name: 'x-canary', value: 'yes' }], queryParams: [{ type: 'Exact', name: 'debug', value: '1' }] },
            { path: { type: 'PathPrefix', value: '/v1/' }, headers: [{ type: 'Exact', name: 'X-Env', value: 'test' }] },
          ],
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: 'canary' }], add: [{ name: 'x-a', value: '1' }], remove: ['x-internal'] } },
            { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-served-by', value: 'v2' }] } },
            { type: 'URLRewrite', urlRewrite: { hostname: 'payments-v2', path: { type: 'ReplaceFullPath', replaceFullPath: '/charge' } } },
            { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 80 }, percent: 10 } },
            { type: 'RequestMirror', requestMirror: { backendRef: { group: '', kind: 'Service', name: 'audit', namespace: 'shop', port: 80 }, fraction: { numerator: 1, denominator: 1000 } } },
          ],
          backendRefs: [{ name: 'payments-v1', port: 80, weight: 90 }, { group: '', kind: 'Service', name: 'payments-v2', namespace: 'shop', port: 80, weight: 10 }],
          timeouts: { request: '10s', backendRequest: '2s' },
          retry: { codes: [503, 429], attempts: 2, backoff: '100ms' },
        },
        { matches: [{ path: { type: 'PathPrefix', value: '/old' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', hostname: 'new.example', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' }, port: 8443, statusCode: 301 } }] },
        { filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }], backendRefs: [{ name: 'payments', port: 80 }], timeouts: { request: '0s', backendRequest: '1h' } },
        { backendRefs: [{ group: 'example.com', kind: 'Bucket', name: 'Not_A_Service' }] },
        {},
      ],
    }, { creationTimestamp: '2026-01-02T03:04:05Z', uid: 'x', labels: { a: 'b' } });
    assert.deepEqual(lines(doc), []);
  });

  it('refuses a header value the sidecar could not write (CR, LF, NUL), on arrival rather than per request', () => {
    const filter = (value: string) => rule({ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-a', value }] } }], backendRefs: [{ name: 'payments', port: 80 }] });
    assert.deepEqual(lines(filter('ok\r\nset-cookie: evil')), [
      'spec.rules[0].filters[0].responseHeaderModifier.set[0].value: must not contain control characters (CR, LF, NUL...): a header value cannot carry them',
    ]);
    assert.equal(lines(filter('a\u0000b')).length, 1);
    assert.deepEqual(lines(filter('tab\tand spaces are fine')), []);
    // The snapshot's routing holds the same rule, for a snapshot made by hand.
    const snapshot = {
      apiVersion: 'petrel.dev/v1alpha1', kind: 'SidecarSnapshot', version: 1,
      services: [{ name: 'payments', namespace: 'shop', endpoints: [], routing: {
        matches: [{ match: {}, rule: 0 }],
        rules: [{ name: 'r', source: 's', backends: [], filters: { requestHeaders: { add: [{ name: 'x-a', value: 'a\nb' }] } } }],
      } }],
    };
    assert.match(validateSnapshot(snapshot).map((i) => `${i.path}: ${i.message}`).join('\n'), /services\[0\]\.routing\.rules\[0\]\.filters\.requestHeaders\.add\[0\]\.value: must not contain control characters/);
  });

  it('refuses unknown fields, with the field named', () => {
    assert.deepEqual(lines(route({ parentRefs: [{ ...parent, weight: 1 }], rules: [{ matchs: [] }] })), [
      'spec.parentRefs[0].weight: is not a known field',
      'spec.rules[0].matchs: is not a known field',
    ]);
  });

  it('refuses what Petrel does not implement, saying so', () => {
    const doc = route({
      parentRefs: [{ name: 'payments' }, { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'edge' }],
      hostnames: ['payments.example'],
      rules: [{
        matches: [{ path: { type: 'RegularExpression', value: '/v.*' }, headers: [{ type: 'RegularExpression', name: 'x', value: 'a.*' }], queryParams: [{ type: 'RegularExpression', name: 'q', value: '.*' }] }],
        filters: [{ type: 'ExtensionRef', extensionRef: { group: 'x', kind: 'Y', name: 'z' } }],
        backendRefs: [{ name: 'payments', port: 80, filters: [] }],
        sessionPersistence: { type: 'Cookie' },
      }],
    });
    assert.deepEqual(lines(doc), [
      'spec.parentRefs[0].group: is required: write group: "" for a Service (the default, gateway.networking.k8s.io, names a Gateway, which Petrel does not implement)',
      'spec.parentRefs[0].kind: is required: write kind: Service (the default, Gateway, is a parent Petrel does not implement)',
      'spec.parentRefs[1].group: must be "" (a core Service): Petrel attaches routes to Services only and does not implement Gateway parents',
      'spec.parentRefs[1].kind: must be "Service": Petrel attaches routes to Services only and does not implement Gateway parents',
      'spec.hostnames: must be empty or absent: a route attached to a Service matches the Service\'s own names (GEP-1324); Petrel does not implement hostnames',
      'spec.rules[0].matches[0].path.type: RegularExpression path matches: Petrel does not implement them; use Exact or PathPrefix',
      'spec.rules[0].matches[0].headers[0].type: RegularExpression header and query parameter matches: Petrel does not implement them; use Exact',
      'spec.rules[0].matches[0].queryParams[0].type: RegularExpression header and query parameter matches: Petrel does not implement them; use Exact',
      'spec.rules[0].filters[0].type: must be one of: "RequestHeaderModifier", "ResponseHeaderModifier", "RequestRedirect", "URLRewrite", "RequestMirror" (Petrel does not implement ExtensionRef or other filters)',
      'spec.rules[0].filters[0].extensionRef: Petrel does not implement ExtensionRef filters',
      'spec.rules[0].backendRefs[0].filters: Petrel does not implement backendRef filters; put the filter on the rule',
      'spec.rules[0].sessionPersistence: Petrel does not implement sessionPersistence',
    ]);
  });

  it('holds the spec\'s limits', () => {
    const many = (n: number, f: (i: number) => unknown) => Array.from({ length: n }, (_, i) => f(i));
    const headers = many(17, (i) => ({ name: `h${i}`, value: 'v' }));
    const doc = route({
      parentRefs: [{ ...parent, port: 0 }],
      rules: [
        {
          matches: [{ path: { type: 'Exact', value: 'v1' }, method: 'FETCH', headers, queryParams: headers }],
          filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 304, port: 70000 } }],
          backendRefs: [{ name: 'a', port: 80, weight: -1 }, { name: 'b', port: 80, weight: 1_000_001 }],
          timeouts: { request: '1.5s', backendRequest: '10 s' },
          retry: { attempts: 10, codes: [200], backoff: '2h' },
        },
        ...many(16, () => ({})),
      ],
    });
    assert.deepEqual(lines(doc).sort(), [
      'spec.parentRefs[0].port: must be >= 1',
      'spec.rules: must NOT have more than 16 items',
      'spec.rules[0].backendRefs[0].weight: must be >= 0',
      'spec.rules[0].backendRefs[1].weight: must be <= 1000000',
      'spec.rules[0].filters[0].requestRedirect.port: must be <= 65535',
      'spec.rules[0].filters[0].requestRedirect.statusCode: must be one of: 301, 302, 303, 307, 308',
      'spec.rules[0].matches[0].headers: must NOT have more than 16 items',
      'spec.rules[0].matches[0].method: must be one of: "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"',
      'spec.rules[0].matches[0].path.value: must be an absolute path: start with "/" and hold only path characters or %-escapes',
      'spec.rules[0].matches[0].queryParams: must NOT have more than 16 items',
      'spec.rules[0].retry.attempts: must be <= 9: Petrel makes at most 10 tries, the first included',
      'spec.rules[0].retry.codes[0]: must be >= 400',
      'spec.rules[0].timeouts.backendRequest: must be a Gateway API duration such as "10s", "500ms", "1h" or "0s" (^([0-9]{1,5}(h|m|s|ms)){1,4}$)',
      'spec.rules[0].timeouts.request: must be a Gateway API duration such as "10s", "500ms", "1h" or "0s" (^([0-9]{1,5}(h|m|s|ms)){1,4}$)',
    ]);
    // Durations Petrel's timers cannot hold: timeouts 24h, backoff 1h.
    assert.deepEqual(lines(rule({ timeouts: { request: '25h' }, retry: { backoff: '61m' } })), [
      'spec.rules[0].timeouts.request: "25h" is longer than the maximum of 24h',
      'spec.rules[0].retry.backoff: "61m" is longer than the maximum of 1h',
    ]);
    assert.deepEqual(lines(route({ parentRefs: [parent], rules: many(3, () => ({ matches: many(64, () => ({})) })) })), [
      'spec.rules: 192 matches in all; a route may have at most 128 across its rules',
    ]);
    assert.deepEqual(lines(route({ parentRefs: [parent] }, { creationTimestamp: 'yesterday' })), [
      'metadata.creationTimestamp: must be an RFC 3339 time such as "2026-01-02T03:04:05Z"',
    ]);
  });

  it('checks what the schema cannot: filter types and fields, combinations, references, timeouts', () => {
    assert.deepEqual(lines(rule({
      filters: [
        { type: 'RequestHeaderModifier', responseHeaderModifier: {} },
        { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: '1' }], remove: ['x-a'] } },
        { type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplaceFullPath', replacePrefixMatch: '/x' } } },
        { type: 'URLRewrite', urlRewrite: {} },
        { type: 'RequestRedirect', requestRedirect: {} },
        { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', namespace: 'other' }, percent: 5, fraction: { numerator: 3, denominator: 2 } } },
      ],
      backendRefs: [{ name: 'a', port: 80 }, { name: 'b', port: 80, weight: 1, namespace: 'billing' }, { name: 'c' }],
      timeouts: { request: '1s', backendRequest: '2s' },
    })), [
      'spec.rules[0].filters[0].responseHeaderModifier: must not be set when type is RequestHeaderModifier (it belongs to type ResponseHeaderModifier)',
      'spec.rules[0].filters[0].requestHeaderModifier: is required when type is RequestHeaderModifier',
      'spec.rules[0].filters[1].type: RequestHeaderModifier filter cannot be repeated (filters[0] is one)',
      'spec.rules[0].filters[1].requestHeaderModifier.remove[0]: "x-a" already has an action (spec.rules[0].filters[1].requestHeaderModifier.set[0].name): one action per header',
      'spec.rules[0].filters[2].requestRedirect.path.replaceFullPath: is required when type is ReplaceFullPath',
      'spec.rules[0].filters[2].requestRedirect.path.replacePrefixMatch: must not be set when type is ReplaceFullPath',
      'spec.rules[0].filters[3].type: may not be combined with the RequestRedirect filter (filters[2]): specify either RequestRedirect or URLRewrite',
      'spec.rules[0].filters[4].type: RequestRedirect filter cannot be repeated (filters[2] is one)',
      'spec.rules[0].filters[4].type: may not be combined with the URLRewrite filter (filters[3]): specify either RequestRedirect or URLRewrite',
      'spec.rules[0].filters[5].requestMirror.backendRef.namespace: "other" is not the route\'s namespace "shop": cross-namespace backendRefs need a ReferenceGrant, which Petrel does not implement yet',
      'spec.rules[0].filters[5].requestMirror.backendRef.port: is required for a Service reference (Gateway API: "Must have port for Service reference")',
      'spec.rules[0].filters[5].requestMirror.fraction: must not be set with percent: give one of them',
      'spec.rules[0].filters[5].requestMirror.fraction.numerator: must not exceed the denominator (3 > 2)',
      'spec.rules[0].backendRefs: must be empty with a RequestRedirect filter (filters[2]): the redirect is the answer, no backend is called',
      'spec.rules[0].backendRefs[1].namespace: "billing" is not the route\'s namespace "shop": cross-namespace backendRefs need a ReferenceGrant, which Petrel does not implement yet',
      'spec.rules[0].backendRefs[2].port: is required for a Service reference (Gateway API: "Must have port for Service reference")',
      'spec.rules[0].timeouts.backendRequest: must not exceed request (2s > 1s)',
    ]);
  });

  it('a ReplacePrefixMatch needs exactly one match, a PathPrefix one (the spec\'s CEL rule)', () => {
    const rewrite = { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } };
    assert.deepEqual(lines(rule({ matches: [{ path: { type: 'Exact', value: '/a' } }], filters: [rewrite] })), [
      'spec.rules[0].filters[0].urlRewrite.path.type: ReplacePrefixMatch needs exactly one match, a PathPrefix one; the rule has one Exact match',
    ]);
    assert.deepEqual(lines(rule({ matches: [{ path: { value: '/a' } }, { path: { value: '/b' } }], filters: [rewrite] })), [
      'spec.rules[0].filters[0].urlRewrite.path.type: ReplacePrefixMatch needs exactly one match, a PathPrefix one; the rule has 2 matches',
    ]);
    assert.deepEqual(lines(rule({ matches: [{ method: 'GET' }], filters: [rewrite] })), [], 'a match without a path is PathPrefix "/"');
  });

  it('refuses duplicate rule names, duplicate matches keys, cross-namespace parents and odd paths', () => {
    assert.deepEqual(lines(route({
      parentRefs: [parent, { ...parent }, { ...parent, namespace: 'billing' }],
      rules: [
        { name: 'a', matches: [{ path: { value: '/a//b' }, headers: [{ name: 'x', value: '1' }, { name: 'x', value: '2' }] }, { path: { value: '/a/..' } }] },
        { name: 'b' },
        { name: 'a' },
      ],
    })), [
      'spec.parentRefs[1]: duplicates parentRefs[0]: references to the same Service must differ in sectionName or port',
      'spec.parentRefs[2].namespace: "billing" is not the route\'s namespace "shop": a route attached to a Service in another namespace (a consumer route, GEP-1324) is not implemented by Petrel yet; put the route in the Service\'s namespace',
      'spec.rules[0].matches[0].path.value: must not contain "//"',
      'spec.rules[0].matches[0].headers[1].name: duplicates headers[0].name "x"',
      'spec.rules[0].matches[1].path.value: must not end with "/.."',
      'spec.rules[2].name: duplicates rules[0].name "a": rule names must be unique within the route',
    ]);
  });

  it('a route in the default namespace may name it explicitly', () => {
    const doc = { ...route({ parentRefs: [{ ...parent, namespace: 'default' }], rules: [{ backendRefs: [{ name: 'a', namespace: 'default', port: 80 }] }] }), metadata: { name: 'r' } };
    assert.deepEqual(lines(doc), []);
  });
});

describe('snapshot routing', () => {
  const snapshot = (routing: unknown) => ({
    apiVersion: 'petrel.dev/v1alpha1', kind: 'SidecarSnapshot', version: 1,
    services: [{ name: 'payments', namespace: 'shop', endpoints: [], routing }],
  });

  it('accepts a compiled routing with every field', () => {
    const issues = validateSnapshot(snapshot({
      matches: [
        { match: { path: { type: 'Exact', value: '/v1/charge' }, method: 'POST', headers: [{ name: 'x-canary', value: 'yes' }], queryParams: [{ name: 'q', value: '1' }] }, rule: 0 },
        { match: { path: { type: 'PathPrefix', value: '/' } }, rule: 1 },
      ],
      rules: [
        {
          name: 'v2-canary', source: 'HTTPRoute shop/payments rule 0',
          backends: [{ service: 'payments-v1', namespace: 'shop', weight: 90 }, { service: 'payments-v2', namespace: 'shop', weight: 10 }],
          filters: {
            requestHeaders: { set: [{ name: 'x-a', value: '1' }], add: [{ name: 'x-b', value: '2' }], remove: ['x-c'] },
            responseHeaders: { add: [{ name: 'x-d', value: '3' }] },
            rewrite: { hostname: 'payments-v2', path: { type: 'ReplacePrefixMatch', value: '/' } },
            mirror: [{ service: 'shadow', namespace: 'shop', percent: 0.1 }],
          },
          timeout: { total: '10s', perTry: '2s' },
          retry: { attempts: 3, on: ['503'], backoff: { strategy: 'exponential-jitter', base: '100ms' } },
        },
        { name: 'payments.1', source: 'HTTPRoute shop/payments rule 1', backends: [], unresolved: 'backendRef kind Bucket is not a Service', filters: { redirect: { scheme: 'https', statusCode: 301, path: { type: 'ReplaceFullPath', value: '/x' } } } },
      ],
    }));
    assert.deepEqual(issues, []);
  });

  it('refuses unknown fields and a match naming a missing rule', () => {
    const bad = validateSnapshot(snapshot({ matches: [{ match: { path: { type: 'RegularExpression', value: '/' } }, rule: 0 }], rules: [{ name: 'r', source: 's', backends: [], extra: 1 }] }));
    assert.deepEqual(bad.map((i) => `${i.path}: ${i.message}`), [
      'services[0].routing.matches[0].match.path.type: must be one of: "Exact", "PathPrefix"',
      'services[0].routing.rules[0].extra: is not a known field',
    ]);
    const missing = validateSnapshot(snapshot({ matches: [{ match: {}, rule: 1 }], rules: [{ name: 'r', source: 's', backends: [] }] }));
    assert.deepEqual(missing.map((i) => `${i.path}: ${i.message}`), ['services[0].routing.matches[0].rule: names rule 1, but there are 1 rules']);
  });
});
