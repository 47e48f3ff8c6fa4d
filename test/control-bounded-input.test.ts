// Policy input is bounded: a 10 MB file of 80,000 documents once took the control plane from 86 to
// 631 MB. Now a file over 1 MiB is rejected before it is read, one over 1,000 documents before it is
// parsed, each with a message naming the file and the limit, and the file's last good version stays
// in force. The control process's memory hardly moves.
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from './harness/wait.ts';
import { startControl, tempDir, type ControlHandle } from './harness/processes.ts';

const policy = (name: string, attempts = 2) => [
  'apiVersion: petrel.dev/v1alpha1',
  'kind: ResiliencePolicy',
  `metadata: { name: ${name}, namespace: default }`,
  'spec:',
  `  targetRef: { kind: Service, name: ${name} }`,
  `  retry: { attempts: ${attempts} }`,
  '',
].join('\n');

/** `count` policy documents, separated by `---`. */
const manyDocuments = (count: number) => Array.from({ length: count }, (_, i) => policy(`svc-${i}`)).join('---\n');

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

describe('bounded policy input', () => {
  let control: ControlHandle;
  let dir: string;

  before(async () => {
    dir = tempDir('petrel-policies-');
    writeFileSync(join(dir, 'big.yaml'), policy('payments'));
    control = await startControl({ policiesDir: dir });
  });

  after(async () => {
    await control?.stop('SIGKILL');
  });

  it('rejects a 10 MB file of 80,000 documents by its size, keeps the last good version, and stays small', async (t) => {
    const pid = control.proc.pid as number;
    assert.equal((await control.status()).policies.count, 1);
    const before = rssMb(pid);
    const text = manyDocuments(80_000);
    assert.ok(Buffer.byteLength(text) > 10_000_000, `${Buffer.byteLength(text)} bytes`);
    writeFileSync(join(dir, 'big.yaml'), text);
    await waitFor(async () => (await control.status()).policies.rejected.length === 1, 'the rejection', 5000);
    const { rejected, count } = (await control.status()).policies;
    assert.equal(rejected[0]?.origin, 'big.yaml');
    assert.match(rejected[0]?.errors[0] ?? '', /big\.yaml: \d+ bytes exceeds the limit of 1 MiB per policy file; split it into smaller files/);
    assert.equal(count, 1, 'the last good version of big.yaml stays in force');
    const during = rssMb(pid);
    rmSync(join(dir, 'big.yaml'));
    await waitFor(async () => (await control.status()).policies.count === 0, 'the removal');
    const afterRemoval = rssMb(pid);
    t.diagnostic(`control RSS: ${before.toFixed(1)} MB before, ${during.toFixed(1)} MB with the 10 MB file rejected, ${afterRemoval.toFixed(1)} MB after its removal`);
    assert.ok(during - before < 100, `RSS grew ${(during - before).toFixed(1)} MB`);
    assert.ok(afterRemoval - before < 100, `RSS grew ${(afterRemoval - before).toFixed(1)} MB`);
  });

  it('rejects a file under 1 MiB with more than 1,000 documents, before parsing it', async (t) => {
    const pid = control.proc.pid as number;
    writeFileSync(join(dir, 'many.yaml'), policy('many', 3));
    await waitFor(async () => (await control.status()).policies.count === 1, 'the good version of many.yaml');
    const before = rssMb(pid);
    const text = manyDocuments(5000);
    assert.ok(Buffer.byteLength(text) < 1024 * 1024, `${Buffer.byteLength(text)} bytes`);
    writeFileSync(join(dir, 'many.yaml'), text);
    await waitFor(async () => (await control.status()).policies.rejected.length === 1, 'the rejection', 5000);
    const { rejected, count } = (await control.status()).policies;
    assert.equal(rejected[0]?.origin, 'many.yaml');
    assert.match(rejected[0]?.errors[0] ?? '', /many\.yaml: 4999 document separators \(---\) exceeds the limit of 1000 documents per policy file/);
    assert.equal(count, 1, 'the last good version stays in force');
    t.diagnostic(`control RSS: ${before.toFixed(1)} MB before, ${rssMb(pid).toFixed(1)} MB with the 5,000-document file rejected`);
    assert.ok(rssMb(pid) - before < 100);
    // Exactly at the limit is fine.
    writeFileSync(join(dir, 'many.yaml'), manyDocuments(1000));
    await waitFor(async () => (await control.status()).policies.count === 1000, 'a file of exactly 1,000 documents accepted', 10_000);
    assert.deepEqual((await control.status()).policies.rejected, []);
  });
});
