// `petrel check` in Kubernetes mode, against the fake API server: the control plane runs the
// cluster checks with its own kube client (CRDs, webhook certificate, caBundles, injector), and
// the CLI prints them after the mesh-wide ones.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CheckReport } from '../control/check-command.ts';
import { FakeKubeApi } from './harness/fake-kube-api.ts';
import { freePort, runPetrel, startControl, tempDir, type ControlHandle } from './harness/processes.ts';

const MUTATING = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/petrel-injector';
const VALIDATING = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/petrel-policy-validator';

describe('petrel check in Kubernetes', () => {
  const api = new FakeKubeApi();
  let control: ControlHandle;
  const check = async () => {
    const r = await runPetrel(['check', '--control', control.apiUrl, '-o', 'json']);
    return { code: r.code, report: JSON.parse(r.stdout) as CheckReport };
  };

  before(async () => {
    await api.start();
    const kubeconfig = join(tempDir(), 'kubeconfig');
    writeFileSync(kubeconfig, [
      'apiVersion: v1', 'kind: Config', 'current-context: test',
      `clusters: [{ name: test, cluster: { server: "${api.url}", insecure-skip-tls-verify: true } }]`,
      'users: [{ name: test, user: { token: test-token } }]',
      'contexts: [{ name: test, context: { cluster: test, user: test, namespace: shop } }]', '',
    ].join('\n'));
    const hook = (path: string) => ({ name: `h${path}`, clientConfig: { service: { name: 'petrel-control', namespace: 'petrel-system', path } } });
    api.plainObjects.set(MUTATING, { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'petrel-injector' }, webhooks: [hook('/inject')] });
    api.plainObjects.set(VALIDATING, { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'petrel-policy-validator' }, webhooks: [hook('/validate')] });
    control = await startControl({ policiesDir: tempDir(), args: ['--kubernetes', '--kubeconfig', kubeconfig, '--startup-grace', '0s', '--webhook-port', String(await freePort()), '--no-identity'] });
  });

  after(async () => {
    await control?.stop('SIGKILL');
    await api.stop();
  });

  it('passes with the CRDs installed and the caBundles the control plane patched in', async () => {
    const { code, report } = await check();
    assert.equal(code, 0, JSON.stringify(report, null, 2));
    assert.deepEqual(report.checks.slice(5).map((c) => [c.name, c.status]), [
      ['CRDs installed', 'ok'], ['webhook certificate valid', 'ok'], ['webhook caBundles match', 'ok'], ['injector reachable', 'ok'],
    ]);
    assert.match(report.checks.find((c) => c.name === 'injector reachable')!.detail, /petrel-control\.petrel-system\.svc:\d+\/inject answered \d+ over TLS/);
  });

  it('fails on a caBundle that does not trust the serving certificate, then on a missing CRD', async () => {
    const validating = api.plainObjects.get(VALIDATING)!;
    const good = validating.webhooks[0].clientConfig.caBundle as string;
    validating.webhooks[0].clientConfig.caBundle = Buffer.from('not a certificate').toString('base64');
    let { code, report } = await check();
    assert.equal(code, 1);
    assert.equal(report.firstFailure, 'webhook caBundles match');
    assert.match(report.checks.find((c) => c.name === 'webhook caBundles match')!.detail, /petrel-policy-validator webhooks\[0\]/);
    validating.webhooks[0].clientConfig.caBundle = good;
    api.uninstall('/apis/petrel.dev/v1alpha1/accesspolicies');
    ({ code, report } = await check());
    assert.equal(code, 1);
    assert.equal(report.firstFailure, 'CRDs installed');
    assert.match(report.checks.find((c) => c.name === 'CRDs installed')!.detail, /missing accesspolicies\.petrel\.dev/);
  });
});
