import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { parse } from 'yaml';
import { accessCrdYaml, crdYaml, resiliencePolicyCrd } from './crd.ts';
import { ACCESS_CRD_FILE, CRD_FILE, GENERATED_FILE, generatedK8sFiles, generateValidators } from './generate-validators.ts';

it('the precompiled validators match the schema sources (run `npm run generate` after a schema change)', () => {
  assert.ok(readFileSync(GENERATED_FILE, 'utf8') === generateValidators(), 'api/generated/validators.ts is stale');
});

it('the CRD in k8s/ matches the schema (run `npm run generate` after a schema change)', () => {
  assert.ok(readFileSync(CRD_FILE, 'utf8') === crdYaml(), 'k8s/crd/resiliencepolicies.yaml is stale');
  assert.ok(readFileSync(ACCESS_CRD_FILE, 'utf8') === accessCrdYaml(), 'k8s/crd/accesspolicies.yaml is stale');
});

it('the CRD schema is structural: no additionalProperties beside properties, every node typed', () => {
  const walk = (node: unknown, path: string): void => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return;
    const n = node as Record<string, unknown>;
    if ('properties' in n) {
      assert.equal('additionalProperties' in n, false, `${path}: additionalProperties beside properties`);
      assert.equal(n.type, 'object', `${path}: an object with properties must say type: object`);
      for (const [k, v] of Object.entries(n.properties as Record<string, unknown>)) walk(v, `${path}.${k}`);
    }
    if ('items' in n) walk(n.items, `${path}[]`);
    if (path !== '' && !('type' in n) && !('x-kubernetes-preserve-unknown-fields' in n)) assert.fail(`${path}: no type`);
  };
  for (const file of [CRD_FILE, ACCESS_CRD_FILE]) {
    const crd = parse(readFileSync(file, 'utf8')) as ReturnType<typeof resiliencePolicyCrd>;
    const version = (crd.spec as { versions: { schema: { openAPIV3Schema: unknown } }[] }).versions[0]!;
    walk(version.schema.openAPIV3Schema, `${file}: openAPIV3Schema`);
  }
});

it('the dashboards and scrape configurations in k8s/ match their generator', () => {
  for (const [file, text] of generatedK8sFiles()) assert.ok(readFileSync(file, 'utf8') === text, `${file} is stale`);
});
