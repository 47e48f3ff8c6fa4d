// Durations are bounded where they are checked, so none reaches a Node timer above 2^31-1 ms (which
// fires after 1 ms): `timeout.total: 600h` used to pass validation and then answer every request 504
// at once, and `--drain-grace 600h` made SIGTERM exit without draining.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { runCli } from './harness/cli-run.ts';
import { snapshot, tempDir } from './harness/processes.ts';

const ephemeral = ['--inbound-port', '0', '--outbound-port', '0', '--admin-port', '0'];

function policyFile(dir: string, name: string, spec: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, ['apiVersion: petrel.dev/v1alpha1', 'kind: ResiliencePolicy', 'metadata: { name: payments }', 'spec:', ...spec].join('\n'));
  return file;
}

describe('duration limits', () => {
  const dir = tempDir('petrel-cli-durations-');

  it('petrel validate refuses a duration above its field\'s maximum, naming the path and the limit', async () => {
    const file = policyFile(dir, 'long.yaml', [
      '  timeout: { total: 600h }', // line 5
      '  retry: { backoff: { max: 2h } }', // line 6
      '  routes:', // line 7
      '    - name: slow', // line 8
      '      timeout: { perTry: 24h1ms }', // line 9
    ]);
    const r = await runCli(['validate', '-f', file]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), [
      `${file}:5: document 1: spec.timeout.total: "600h" is longer than the maximum of 24h`,
      `${file}:6: document 1: spec.retry.backoff.max: "2h" is longer than the maximum of 1h`,
      `${file}:9: document 1: spec.routes[0].timeout.perTry: "24h1ms" is longer than the maximum of 24h`,
    ]);
  });

  it('petrel validate accepts each maximum itself', async () => {
    const file = policyFile(dir, 'max.yaml', ['  timeout: { total: 24h }', '  retry: { backoff: { base: 1h, max: 60m } }', '  circuitBreaker: { openFor: 24h, maxOpenFor: 24h }']);
    const r = await runCli(['validate', '-f', file]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  it('a sidecar given a --config snapshot with total 600h refuses to start, with the same message', async () => {
    const file = join(dir, 'snapshot.yaml');
    writeFileSync(file, stringify(snapshot(1, [{ name: 'payments', endpoints: ['127.0.0.1:9'], policy: { timeout: { total: '600h' } } }])));
    const r = await runCli(['sidecar', '--service', 'web', '--config', file, ...ephemeral]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? '', /^petrel sidecar: cannot start with this --config: \S+snapshot\.yaml:\d+: document 1: services\[0\]\.policy\.timeout\.total: "600h" is longer than the maximum of 24h$/);
  });

  it('petrel sidecar --drain-grace 600h is a usage error: exit 2, one line naming the flag and the limit', async () => {
    const r = await runCli(['sidecar', '--service', 'web', '--drain-grace', '600h', ...ephemeral]);
    assert.equal(r.code, 2, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0] ?? '', /^petrel sidecar: option '--drain-grace <duration>' argument '600h' is invalid\. "600h" is longer than the maximum of 1h; choose at most 1h$/);
  });

  it('every other duration flag is bounded too', async () => {
    for (const [command, flag] of [['sidecar', '--header-timeout'], ['sidecar', '--keep-alive-timeout'], ['control', '--registration-grace'], ['control', '--startup-grace']] as const) {
      const args = command === 'sidecar' ? ['sidecar', '--service', 'web', flag, '1000h', ...ephemeral] : ['control', flag, '1000h', '--stream-port', '0', '--api-port', '0'];
      const r = await runCli(args);
      assert.equal(r.code, 2, `${command} ${flag}: ${r.stderr}`);
      assert.match(r.stderr, /is longer than the maximum of 1h/);
    }
  });
});
