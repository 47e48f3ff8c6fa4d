import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validatePolicyDocument, validateSnapshot } from './validate.ts';
import { formatIssues, parseDocuments } from './yaml-source.ts';

const policy = (spec: unknown) => ({ apiVersion: 'petrel.dev/v1alpha1', kind: 'ResiliencePolicy', metadata: { name: 'p', namespace: 'shop' }, spec });

describe('policy validation', () => {
  it('accepts the contract example', () => {
    const spec = {
      targetRef: { kind: 'Service', name: 'payments' },
      timeout: { connect: '1s', perTry: '2s', total: '5s' },
      retry: { attempts: 3, on: ['connect-failure', 'reset', 'gateway-error', '429'], backoff: { strategy: 'exponential-jitter', base: '100ms', max: '2s' },
        budget: { ratio: 0.2, minPerSecond: 10 }, nonIdempotent: false },
      circuitBreaker: { consecutiveFailures: 5, failureRate: { threshold: 0.5, window: '10s', minRequests: 20 }, openFor: '30s', maxOpenFor: '5m', halfOpenProbes: 1 },
      rateLimit: { requestsPerSecond: 100, burst: 50 },
      concurrency: { maxRequests: 1024, maxPending: 1024 },
      loadBalancer: { policy: 'ewma' },
      fault: { delay: { duration: '2s', percent: 10 }, abort: { status: 503, percent: 5 } },
      routes: [{ name: 'charge', match: { pathPrefix: '/v1/charge', methods: ['POST'] }, timeout: { total: '10s' }, retry: { attempts: 1 } }],
    };
    assert.deepEqual(validatePolicyDocument(policy(spec)), []);
  });

  it('names the field path and what was expected', () => {
    const issues = validatePolicyDocument(policy({ retry: { attempts: 0, on: ['sometimes'], backoff: { strategy: 'linear' } }, timeout: { total: 'soon' }, colour: 'blue' }));
    const lines = issues.map((i) => `${i.path}: ${i.message}`).sort();
    assert.deepEqual(lines, [
      'spec.colour: is not a known field',
      'spec.retry.attempts: must be >= 1',
      'spec.retry.backoff.strategy: must be one of: "fixed", "exponential", "exponential-jitter"',
      'spec.retry.on[0]: must match ^(connect-failure|reset|gateway-error|5xx|retriable-4xx|[1-5][0-9][0-9]|cancelled|deadline-exceeded|internal|resource-exhausted|unavailable)$',
      'spec.timeout.total: must be a duration such as "250ms", "2s" or "5m"',
    ]);
  });

  it('checks what a schema cannot: orderings and unique route names', () => {
    const issues = validatePolicyDocument(policy({
      retry: { backoff: { base: '3s', max: '1s' } },
      circuitBreaker: { openFor: '10m', maxOpenFor: '5m' },
      timeout: { perTry: '10s', total: '5s' },
      routes: [{ name: 'a' }, { name: 'a' }],
    }));
    assert.deepEqual(issues.map((i) => i.path), ['spec.retry.backoff.base', 'spec.circuitBreaker.openFor', 'spec.timeout.perTry', 'spec.routes[1].name']);
    assert.match(issues[0]?.message ?? '', /must not exceed max \(3s > 1s\)/);
  });
});

describe('snapshot validation', () => {
  it('locates each issue at its file line', () => {
    const text = [
      'apiVersion: petrel.dev/v1alpha1', // 1
      'kind: SidecarSnapshot', // 2
      'version: 1', // 3
      'services:', // 4
      '  - name: payments', // 5
      '    namespace: default', // 6
      '    endpoints:', // 7
      '      - address: 127.0.0.1:15006', // 8
      '      - address: nowhere', // 9
      '    policy:', // 10
      '      timeout: { connect: fast }', // 11
    ].join('\n');
    const [doc] = parseDocuments(text, 'snap.yaml');
    assert.ok(doc);
    assert.deepEqual(formatIssues(doc, validateSnapshot(doc.value)), [
      'snap.yaml:9: document 1: services[0].endpoints[1].address: must match ^(\\[[0-9a-fA-F:.]+\\]|[A-Za-z0-9.-]+):[0-9]{1,5}$',
      'snap.yaml:11: document 1: services[0].policy.timeout.connect: must be a duration such as "250ms", "2s" or "5m"',
    ]);
  });

  it('bounds every duration field, in services, routes and the inbound policy, below what a timer holds', () => {
    const issues = validateSnapshot({
      apiVersion: 'petrel.dev/v1alpha1', kind: 'SidecarSnapshot', version: 1,
      inbound: { policy: { fault: { delay: { duration: '61m', percent: 1 } } } },
      services: [{
        name: 'a', namespace: 'default', endpoints: [],
        policy: {
          timeout: { connect: '25h' },
          circuitBreaker: { failureRate: { window: '2h' }, openFor: '24h', maxOpenFor: '596h' },
          routes: [{ name: 'r', retry: { backoff: { base: '1h', max: '1h0.5s' } } }],
        },
      }],
    });
    assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`).sort(), [
      'inbound.policy.fault.delay.duration: "61m" is longer than the maximum of 1h',
      'services[0].policy.circuitBreaker.failureRate.window: "2h" is longer than the maximum of 1h',
      'services[0].policy.circuitBreaker.maxOpenFor: "596h" is longer than the maximum of 24h',
      'services[0].policy.routes[0].retry.backoff.max: "1h0.5s" is longer than the maximum of 1h',
      'services[0].policy.timeout.connect: "25h" is longer than the maximum of 24h',
    ]);
  });

  it('refuses two services claiming one host', () => {
    const issues = validateSnapshot({
      apiVersion: 'petrel.dev/v1alpha1', kind: 'SidecarSnapshot', version: 1,
      services: [
        { name: 'a', namespace: 'default', endpoints: [], hosts: ['api.example'] },
        { name: 'b', namespace: 'default', endpoints: [], hosts: ['API.example'] },
      ],
    });
    assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), ['services[1].hosts[0]: host "API.example" already belongs to service a.default']);
  });

  it('reports YAML syntax errors with the line', () => {
    assert.throws(() => parseDocuments('a: 1\nb: [unclosed\n', 'broken.yaml'), /^Error: broken\.yaml:\d+: document 1: YAML:/);
  });
});
