// The CLI as scripts use it: `petrel validate` exit codes and its one-line-per-error output.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runPetrel, tempDir } from './harness/processes.ts';

describe('petrel validate', () => {
  const dir = tempDir();
  const good = join(dir, 'good.yaml');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(good, [
    'apiVersion: petrel.dev/v1alpha1', 'kind: ResiliencePolicy', 'metadata: { name: payments, namespace: shop }',
    'spec:', '  targetRef: { kind: Service, name: payments }', '  retry: { attempts: 3 }',
  ].join('\n'));
  writeFileSync(bad, [
    'apiVersion: petrel.dev/v1alpha1', 'kind: ResiliencePolicy', 'metadata: { name: ok }', 'spec: {}',
    '---',
    'apiVersion: petrel.dev/v1alpha1', 'kind: ResiliencePolicy', 'metadata: { name: payments }', 'spec:',
    '  retry:', '    attempts: 0', '  timeout: { total: soon }',
  ].join('\n'));

  it('exits 0 on valid files', async () => {
    const r = await runPetrel(['validate', '-f', good]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 document\(s\) in 1 file\(s\) valid/);
  });

  it('exits 1 with file, line, document, field path and message for each error', async () => {
    const r = await runPetrel(['validate', '-f', good, '-f', bad]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), [
      `${bad}:11: document 2: spec.retry.attempts: must be >= 1`,
      `${bad}:12: document 2: spec.timeout.total: must be a duration such as "250ms", "2s" or "5m"`,
    ]);
  });

  it('exits 1 on a missing file', async () => {
    const r = await runPetrel(['validate', '-f', join(dir, 'missing.yaml')]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /missing\.yaml: ENOENT/);
  });
});
