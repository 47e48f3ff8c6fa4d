// Who may read the status and answer for a sidecar. With --token-file the status API wants the
// token (it names every subscription); /metrics and /ready stay open for scrapers and probes. An
// ACK/NACK counts only with the per-stream secret its stream's hello carried: the shared token alone
// cannot forge a NACK (or a deregistration) for another sidecar.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from './harness/wait.ts';
import { runPetrel, startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';

describe('control plane auth', () => {
  let control: ControlHandle;
  let web: SidecarHandle;
  let tokenFile: string;

  before(async () => {
    tokenFile = join(tempDir(), 'token');
    writeFileSync(tokenFile, 's3cret\n');
    control = await startControl({ policiesDir: tempDir('petrel-policies-'), tokenFile, args: ['--startup-grace', '0s'] });
    web = await startSidecar({ service: 'web', args: ['--control', control.streamUrl, '--token-file', tokenFile] });
    await waitFor(async () => (await control.status()).sidecars.some((s) => s.service === 'web' && s.state === 'SYNCED'), 'web SYNCED');
  });

  after(async () => {
    await Promise.all([web?.stop('SIGKILL'), control?.stop('SIGKILL')]);
  });

  it('answers /v1/status only with the token; /metrics and /ready stay open', async () => {
    const anonymous = await fetch(`${control.apiUrl}/v1/status`);
    assert.equal(anonymous.status, 401);
    assert.match(((await anonymous.json()) as { error: string }).error, /\/v1\/status needs the control plane's token: authorization: Bearer/);
    assert.equal((await fetch(`${control.apiUrl}/v1/status`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await fetch(`${control.apiUrl}/v1/status`, { headers: { authorization: 'Bearer s3cret' } })).status, 200);
    assert.equal((await fetch(`${control.apiUrl}/metrics`)).status, 200);
    assert.equal((await fetch(`${control.apiUrl}/ready`)).status, 200);

    const without = await runPetrel(['status', '--control', control.apiUrl]);
    assert.equal(without.code, 1);
    assert.match(without.stdout, /petrel status: cannot read http:\/\/127\.0\.0\.1:\d+\/v1\/status: HTTP 401: .* \(pass --token-file with the control plane's token\)/);
    assert.doesNotMatch(without.stdout + without.stderr, /\n\s+at /, 'no stack trace');
    const missing = await runPetrel(['status', '--control', control.apiUrl, '--token-file', join(tempDir(), 'absent')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /petrel status: cannot read --token-file .*absent: ENOENT/);
    const withToken = await runPetrel(['status', '--control', control.apiUrl, '--token-file', tokenFile]);
    assert.equal(withToken.code, 0);
    assert.match(withToken.stdout, /^web +default +127\.0\.0\.1:\d+ .* SYNCED /m);
  });

  it('refuses a NACK or deregistration forged with the shared token but without the stream secret', async () => {
    const victim = (await control.status()).sidecars.find((s) => s.service === 'web') as { id?: string; version: number | null };
    assert.ok(victim.id !== undefined && victim.version !== null);
    const forge = (path: string, body: unknown) => fetch(`${control.streamUrl}${path}`, {
      method: 'POST', headers: { authorization: 'Bearer s3cret', 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const noSecret = await forge('/v1/ack', { id: victim.id, version: victim.version, status: 'NACK', error: 'forged' });
    assert.equal(noSecret.status, 403);
    assert.match(((await noSecret.json()) as { error: string }).error, /NACK: the stream secret does not match subscription .*; only its own stream may answer for it/);
    const wrongSecret = await forge('/v1/ack', { id: victim.id, secret: 'guess', version: victim.version, status: 'NACK', error: 'forged' });
    assert.equal(wrongSecret.status, 403);
    assert.equal((await forge('/v1/deregister', { id: victim.id, secret: 'guess' })).status, 403);
    assert.equal((await forge('/v1/ack', { id: victim.id, version: 'x', status: 'NACK' })).status, 400, 'a malformed body is a 400 with the reason');
    assert.equal((await forge('/v1/ack', { id: 'no-such-id', secret: 'x', version: 1, status: 'NACK' })).status, 404);

    const after = (await control.status()).sidecars.find((s) => s.service === 'web');
    assert.equal(after?.state, 'SYNCED');
    assert.equal(after?.error, null);
    assert.equal(await control.metric('petrel_control_nacks_total'), 0, 'no NACK counted');
    const out = await runPetrel(['status', '--control', control.apiUrl, '--token-file', tokenFile]);
    assert.match(out.stdout, /^web +default +127\.0\.0\.1:\d+ .* SYNCED /m);
    assert.doesNotMatch(out.stdout, /forged/);
    assert.match(control.output(), /NACK refused: it does not carry the stream secret of that subscription/);
  });
});
