// `petrel validate` on HTTPRoute documents: file:line: document N: field.path: message.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runValidate } from './validate-command.ts';

const dir = mkdtempSync(join(tmpdir(), 'petrel-validate-route-'));

async function validate(name: string, lines: string[]): Promise<{ code: number; out: string[]; file: string }> {
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n'));
  const out: string[] = [];
  return { code: await runValidate([file], (l) => out.push(l)), out, file };
}

describe('petrel validate: HTTPRoute', () => {
  it('accepts a mesh route', async () => {
    const r = await validate('good.yaml', [
      'apiVersion: gateway.networking.k8s.io/v1', 'kind: HTTPRoute', 'metadata: { name: payments-split, namespace: shop }',
      'spec:', '  parentRefs: [{ group: "", kind: Service, name: payments, port: 80 }]',
      '  rules:', '    - backendRefs: [{ name: payments-v1, port: 80, weight: 90 }, { name: payments-v2, port: 80, weight: 10 }]',
    ]);
    assert.deepEqual(r.out, ['1 document(s) in 1 file(s) valid']);
    assert.equal(r.code, 0);
  });

  it('names file, line, document and field path', async () => {
    const r = await validate('bad.yaml', [
      'apiVersion: petrel.dev/v1alpha1', 'kind: AccessPolicy', 'metadata: { name: ok }', 'spec: {}',
      '---',
      'apiVersion: gateway.networking.k8s.io/v1', // 6
      'kind: HTTPRoute',
      'metadata: { name: payments, namespace: shop }',
      'spec:',
      '  parentRefs: [{ group: "", kind: Service, name: payments }]', // 10
      '  rules:',
      '    - matches: [{ path: { type: RegularExpression, value: "/v.*" } }]', // 12
      '      backendRefs:',
      '        - { name: payments-v1, port: 80 }',
      '        - { name: payments-v2, port: 80, weight: -1 }', // 15
      '    - backendRefs: [{ name: ledger, namespace: billing, port: 80 }]', // 16
      '      timeouts: { request: 1s, backendRequest: 2s }', // 17
    ]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.out, [
      `${r.file}:12: document 2: spec.rules[0].matches[0].path.type: RegularExpression path matches: Petrel does not implement them; use Exact or PathPrefix`,
      `${r.file}:15: document 2: spec.rules[0].backendRefs[1].weight: must be >= 0`,
    ]);
    const semantic = await validate('semantic.yaml', [
      'apiVersion: gateway.networking.k8s.io/v1', 'kind: HTTPRoute', 'metadata: { name: payments, namespace: shop }',
      'spec:',
      '  rules:',
      '    - backendRefs: [{ name: ledger, namespace: billing, port: 80 }]', // 6
      '      timeouts: { request: 1s, backendRequest: 2s }', // 7
    ]);
    assert.deepEqual(semantic.out, [
      `${semantic.file}:6: document 1: spec.rules[0].backendRefs[0].namespace: "billing" is not the route's namespace "shop": cross-namespace backendRefs need a ReferenceGrant, which Petrel does not implement yet`,
      `${semantic.file}:7: document 1: spec.rules[0].timeouts.backendRequest: must not exceed request (2s > 1s)`,
    ]);
  });

  it('judges a GRPCRoute by its own schema (api/grpc-route-validate.test.ts has the rest)', async () => {
    const ok = await validate('grpc.yaml', ['apiVersion: gateway.networking.k8s.io/v1', 'kind: GRPCRoute', 'metadata: { name: g }', 'spec: {}']);
    assert.deepEqual(ok.out, ['1 document(s) in 1 file(s) valid']);
    const bad = await validate('grpc-bad.yaml', [
      'apiVersion: gateway.networking.k8s.io/v1', 'kind: GRPCRoute', 'metadata: { name: g }', 'spec:', // 1-4
      '  rules:', // 5
      '    - matches: [{ method: { method: Unary } }]', // 6
      '      timeouts: { request: 1s }', // 7
    ]);
    assert.deepEqual(bad.out, [`${bad.file}:7: document 1: spec.rules[0].timeouts: is not a known field`]);
  });
});
