// AccessPolicy files in the policy directory: compiled into the snapshot of the protected service's
// sidecar only (`inbound.access`), enforced there, and an invalid edit keeps the last good version.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { call } from './harness/client.ts';
import { waitFor } from './harness/wait.ts';
import { startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';
import { accessPolicyYaml } from './harness/access-policy.ts';

const accessPolicy = (mtls: string) => accessPolicyYaml('payments', mtls, [{ serviceAccounts: ['web'], paths: ['/v1/'] }]);

type Access = { mtls: string; rules?: unknown[] } | undefined;
interface Dump { snapshot: { inbound?: { access?: Access } } | null }

describe('AccessPolicy in the policy directory', () => {
  let control: ControlHandle;
  let payments: SidecarHandle;
  let web: SidecarHandle;
  let app: Upstream;
  let appCalls = 0;
  let dir: string;

  const accessAt = async (sidecar: SidecarHandle): Promise<Access> =>
    ((await (await sidecar.admin('/config_dump')).json()) as Dump).snapshot?.inbound?.access;

  before(async () => {
    app = await startUpstream((_req, res) => { appCalls++; res.end('paid'); });
    dir = join(tempDir(), 'policies');
    mkdirSync(dir);
    writeFileSync(join(dir, 'payments.yaml'), accessPolicy('permissive'));
    control = await startControl({ policiesDir: dir, args: ['--startup-grace', '0s'] });
    payments = await startSidecar({ service: 'payments', app: app.address, args: ['--control', control.streamUrl] });
    web = await startSidecar({ service: 'web', args: ['--control', control.streamUrl] });
    await waitFor(async () => (await accessAt(payments)) !== undefined, 'the AccessPolicy at the payments sidecar');
  });

  after(async () => {
    await Promise.all([web?.stop('SIGKILL'), payments?.stop('SIGKILL'), control?.stop('SIGKILL')]);
    await app?.close();
  });

  it('compiles into the protected sidecar\'s inbound.access and only that one', async () => {
    assert.deepEqual(await accessAt(payments), { mtls: 'permissive', rules: [{ from: { serviceAccounts: ['default/web'] }, to: { paths: ['/v1/'] } }] });
    await waitFor(async () => ((await (await web.admin('/config_dump')).json()) as Dump).snapshot !== null, 'web has a config');
    assert.equal(await accessAt(web), undefined);
  });

  it('is enforced: a plaintext caller gets 403 RBAC and the app sees nothing', async () => {
    const before = appCalls;
    const reply = await call(payments.inboundPort, { headers: { host: 'payments' }, path: '/v1/pay' });
    assert.equal(reply.status, 403, reply.body);
    assert.equal(reply.headers['petrel-error'], 'RBAC');
    assert.equal(appCalls, before);
  });

  it('an invalid edit is rejected alone and the last good version stays in force', async () => {
    writeFileSync(join(dir, 'payments.yaml'), accessPolicy('always'));
    await waitFor(async () => (await control.status()).policies.rejected.length === 1, 'the rejection', 5000);
    const [rejected] = (await control.status()).policies.rejected;
    assert.match(rejected!.errors.join('\n'), /payments\.yaml:6: document 1: spec\.mtls: must be one of: "strict", "permissive"/);
    assert.equal((await accessAt(payments))?.mtls, 'permissive');
    writeFileSync(join(dir, 'payments.yaml'), accessPolicy('strict'));
    await waitFor(async () => (await accessAt(payments))?.mtls === 'strict', 'the fixed version applied');
    assert.deepEqual((await control.status()).policies.rejected, []);
  });
});
