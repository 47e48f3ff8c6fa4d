// HTTPRoutes in the policy directory: read beside ResiliencePolicies into entries of kind HTTPRoute;
// an invalid edit leaves the last good version in force; the policy indexes ignore them.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AccessIndex } from '../access-index.ts';
import { PolicyIndex } from '../compiler.ts';
import { PolicyDirectory } from './policy-directory.ts';

const routeYaml = (weight: number | string) => [
  'apiVersion: gateway.networking.k8s.io/v1', 'kind: HTTPRoute',
  'metadata: { name: payments-split, namespace: shop, creationTimestamp: "2026-01-02T03:04:05Z" }',
  'spec:', '  parentRefs: [{ group: "", kind: Service, name: payments, port: 80 }]',
  '  rules:', `    - backendRefs: [{ name: payments-v1, port: 80, weight: 90 }, { name: payments-v2, port: 80, weight: ${weight} }]`, '',
].join('\n');

describe('policy directory: HTTPRoute', () => {
  it('reads routes beside policies and keeps the last good version on an invalid edit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'petrel-routes-'));
    writeFileSync(join(dir, 'policy.yaml'), 'apiVersion: petrel.dev/v1alpha1\nkind: ResiliencePolicy\nmetadata: { name: payments, namespace: shop }\nspec: { targetRef: { kind: Service, name: payments }, retry: { attempts: 2 } }\n');
    writeFileSync(join(dir, 'route.yaml'), routeYaml(10));
    const source = new PolicyDirectory(dir);
    try {
      await source.reload();
      const first = source.state();
      assert.deepEqual(first.errors, []);
      assert.deepEqual(first.policies.map((p) => p.kind), ['ResiliencePolicy', 'HTTPRoute']);
      const route = first.policies.find((p) => p.kind === 'HTTPRoute');
      assert.deepEqual(route, {
        key: 'shop/payments-split', namespace: 'shop', name: 'payments-split', origin: `${join(dir, 'route.yaml')} (document 1)`,
        kind: 'HTTPRoute', creationTimestamp: '2026-01-02T03:04:05Z',
        spec: { parentRefs: [{ group: '', kind: 'Service', name: 'payments', port: 80 }], rules: [{ backendRefs: [{ name: 'payments-v1', port: 80, weight: 90 }, { name: 'payments-v2', port: 80, weight: 10 }] }] },
      });
      // The indexes of the other kinds ignore routes.
      assert.deepEqual(new PolicyIndex(first.policies).policyFor('payments', 'shop'), { retry: { attempts: 2 } });
      assert.equal(new AccessIndex(first.policies).accessFor('payments', 'shop'), undefined);

      writeFileSync(join(dir, 'route.yaml'), routeYaml(-5));
      await source.reload();
      const second = source.state();
      assert.deepEqual(second.errors, [{ origin: 'route.yaml', errors: [`${join(dir, 'route.yaml')}:7: document 1: spec.rules[0].backendRefs[1].weight: must be >= 0`] }]);
      assert.deepEqual(second.policies.find((p) => p.kind === 'HTTPRoute'), route, 'the last good version stays in force');

      writeFileSync(join(dir, 'route.yaml'), routeYaml(20));
      await source.reload();
      const third = source.state();
      assert.deepEqual(third.errors, []);
      const spec = third.policies.find((p) => p.kind === 'HTTPRoute')?.spec as { rules: { backendRefs: { weight: number }[] }[] };
      assert.equal(spec.rules[0]?.backendRefs[1]?.weight, 20);
    } finally {
      source.stop();
    }
  });
});
