// The policy directory against what happens to directories: deleted and created again, it is watched
// again and edits to the new one apply; entries that cannot be policy files (a symlink loop, a
// directory named *.yaml) are reported as rejected, never skipped silently.
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from './harness/wait.ts';
import { startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';

const policy = (attempts: number) => [
  'apiVersion: petrel.dev/v1alpha1',
  'kind: ResiliencePolicy',
  'metadata: { name: web, namespace: default }',
  'spec:',
  '  targetRef: { kind: Service, name: web }',
  `  retry: { attempts: ${attempts} }`,
  '',
].join('\n');

interface Dump { snapshot: { services: { name: string; policy?: { retry?: { attempts?: number } } }[] } | null }

describe('policy directory', () => {
  let control: ControlHandle;
  let web: SidecarHandle;
  let dir: string;

  const attemptsAtSidecar = async (): Promise<number | undefined> => {
    const dump = (await (await web.admin('/config_dump')).json()) as Dump;
    return dump.snapshot?.services.find((s) => s.name === 'web')?.policy?.retry?.attempts;
  };

  before(async () => {
    dir = join(tempDir(), 'policies');
    mkdirSync(dir);
    writeFileSync(join(dir, 'web.yaml'), policy(2));
    control = await startControl({ policiesDir: dir, args: ['--startup-grace', '0s'] });
    web = await startSidecar({ service: 'web', args: ['--control', control.streamUrl] });
    await waitFor(async () => (await attemptsAtSidecar()) === 2, 'the first policy at the sidecar');
  });

  after(async () => {
    await Promise.all([web?.stop('SIGKILL'), control?.stop('SIGKILL')]);
  });

  it('watches a directory that was deleted and created again', async () => {
    rmSync(dir, { recursive: true });
    await waitFor(async () => (await control.status()).policies.rejected.some((r) => r.origin === dir), 'the missing directory reported', 5000);
    const missing = (await control.status()).policies;
    assert.match(missing.rejected.find((r) => r.origin === dir)?.errors[0] ?? '', /the policy directory does not exist; the policies read from it before stay in force until it is back/);
    assert.equal(missing.count, 1, 'its last policies stay in force while it is gone');
    assert.equal(await attemptsAtSidecar(), 2);

    mkdirSync(dir);
    writeFileSync(join(dir, 'web.yaml'), policy(4));
    await waitFor(async () => (await attemptsAtSidecar()) === 4, 'the policy from the new directory at the sidecar', 5000);
    assert.deepEqual((await control.status()).policies.rejected, []);
    // And the new directory is watched: a later edit applies too.
    writeFileSync(join(dir, 'web.yaml'), policy(5));
    await waitFor(async () => (await attemptsAtSidecar()) === 5, 'an edit in the new directory at the sidecar', 5000);
  });

  it('reports a symlink loop and a directory named *.yaml as rejected entries', async () => {
    symlinkSync('.', join(dir, 'loop.yaml'));
    symlinkSync('cycle-b.yaml', join(dir, 'cycle-a.yaml'));
    symlinkSync('cycle-a.yaml', join(dir, 'cycle-b.yaml'));
    mkdirSync(join(dir, 'dir.yaml'));
    await waitFor(async () => (await control.status()).policies.rejected.length === 4, 'four rejected entries', 5000);
    const { rejected, count } = (await control.status()).policies;
    const byName = Object.fromEntries(rejected.map((r) => [r.origin, r.errors.join('; ')]));
    assert.match(byName['loop.yaml'] ?? '', /loop\.yaml: is a directory \(through a symbolic link\); a policy file must be a regular file/);
    assert.match(byName['dir.yaml'] ?? '', /dir\.yaml: is a directory; a policy file must be a regular file/);
    assert.match(byName['cycle-a.yaml'] ?? '', /cycle-a\.yaml: symbolic link loop/);
    assert.match(byName['cycle-b.yaml'] ?? '', /cycle-b\.yaml: symbolic link loop/);
    assert.equal(count, 1, 'the good file stays in force');
    const logged = /"origin":"dir.yaml".*policy input rejected; its last good version stays in force:\\n  [^"]*dir\.yaml: is a directory/;
    await waitFor(() => logged.test(control.output()), 'a log line naming dir.yaml', 2000);
    assert.equal(await control.metric('petrel_control_rejected_policies'), 4);
  });
});
