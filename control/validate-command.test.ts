// `petrel validate` on AccessPolicy documents: the same one-line-per-error form as for
// ResiliencePolicy (file:line: document N: field.path: message), schema and semantic checks alike.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runValidate, validateDocument } from './validate-command.ts';

const dir = mkdtempSync(join(tmpdir(), 'petrel-validate-'));

async function validate(name: string, lines: string[]): Promise<{ code: number; out: string[]; file: string }> {
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n'));
  const out: string[] = [];
  const code = await runValidate([file], (l) => out.push(l));
  return { code, out, file };
}

describe('petrel validate: AccessPolicy', () => {
  it('accepts the DESIGN.md example and a namespace default without targetRef', async () => {
    const r = await validate('good.yaml', [
      'apiVersion: petrel.dev/v1alpha1', 'kind: AccessPolicy', 'metadata: { name: payments, namespace: shop }',
      'spec:', '  targetRef: { kind: Service, name: payments }', '  mtls: strict',
      '  rules:', '    - from: { serviceAccounts: [checkout, "billing/invoicer"], namespaces: [ops] }',
      '      to: { paths: [/v1/], methods: [GET, POST] }',
      '---',
      'apiVersion: petrel.dev/v1alpha1', 'kind: AccessPolicy', 'metadata: { name: shop-default, namespace: shop }',
      'spec: { mtls: strict }',
      '---',
      'apiVersion: petrel.dev/v1alpha1', 'kind: AccessPolicy', 'metadata: { name: deny-all, namespace: shop }',
      'spec: { rules: [] }',
    ]);
    assert.equal(r.code, 0, r.out.join('\n'));
    assert.deepEqual(r.out, ['3 document(s) in 1 file(s) valid']);
  });

  it('names file, line, document and field path for schema errors', async () => {
    const r = await validate('bad.yaml', [
      'apiVersion: petrel.dev/v1alpha1', 'kind: AccessPolicy', 'metadata: { name: ok }', 'spec: {}',
      '---',
      'apiVersion: petrel.dev/v1alpha1', // 6
      'kind: AccessPolicy',
      'metadata: { name: payments }',
      'spec:',
      '  targetRef: { kind: Deployment, name: payments }', // 10
      '  mtls: always', // 11
      '  rules:',
      '    - from: { serviceAccounts: ["Bad_Name"] }', // 13
      '      to: { paths: [v1], methods: [FETCH] }', // 14
      '    - when: now', // 15
    ]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.out.sort(), [
      `${r.file}:10: document 2: spec.targetRef.kind: must be one of: "Service", "HTTPRoute", "GRPCRoute"`,
      `${r.file}:11: document 2: spec.mtls: must be one of: "strict", "permissive"`,
      `${r.file}:13: document 2: spec.rules[0].from.serviceAccounts[0]: must match ^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`,
      `${r.file}:14: document 2: spec.rules[0].to.methods[0]: must be one of: "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"`,
      `${r.file}:14: document 2: spec.rules[0].to.paths[0]: must match ^/`,
      `${r.file}:15: document 2: spec.rules[1].when: is not a known field`,
    ]);
  });

  it('names what the schema cannot: an empty from or to, duplicates', async () => {
    const r = await validate('semantic.yaml', [
      'apiVersion: petrel.dev/v1alpha1', 'kind: AccessPolicy', 'metadata: { name: p, namespace: shop }',
      'spec:',
      '  rules:',
      '    - from: {}', // 6
      '      to: { methods: [GET, GET] }', // 7
      '    - to: {}', // 8
    ]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.out.sort(), [
      `${r.file}:6: document 1: spec.rules[0].from: must list serviceAccounts or namespaces (omit from to allow every caller)`,
      `${r.file}:7: document 1: spec.rules[0].to.methods[1]: duplicates [0] "GET"`,
      `${r.file}:8: document 1: spec.rules[1].to: must list paths or methods (omit to to allow every request)`,
    ]);
  });

  it('an empty list is refused rather than read as nobody or anybody', () => {
    const issues = validateDocument({ apiVersion: 'petrel.dev/v1alpha1', kind: 'AccessPolicy', metadata: { name: 'p' }, spec: { rules: [{ from: { namespaces: [] } }] } });
    assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), ['spec.rules[0].from.namespaces: must NOT have fewer than 1 items']);
  });

  it('a snapshot\'s inbound.access is judged by the same rules', () => {
    const issues = validateDocument({
      apiVersion: 'petrel.dev/v1alpha1', kind: 'SidecarSnapshot', version: 1, services: [],
      inbound: { access: { mtls: 'permissive', rules: [{ from: {} }, { to: { paths: ['/a', '/a'] } }] } },
    });
    assert.deepEqual(issues.map((i) => `${i.path}: ${i.message}`), [
      'inbound.access.rules[0].from: must list serviceAccounts or namespaces (omit from to allow every caller)',
      'inbound.access.rules[1].to.paths[1]: duplicates [0] "/a"',
    ]);
  });

  it('names the kinds it knows', () => {
    assert.match(validateDocument({ kind: 'Gateway' })[0]?.message ?? '', /"ResiliencePolicy", "AccessPolicy", "HTTPRoute", "GRPCRoute" or "SidecarSnapshot"/);
  });
});
