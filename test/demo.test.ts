// `petrel demo` is the main job: it must run to the end by itself and behave as it explains.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runPetrel } from './harness/processes.ts';

describe('petrel demo', () => {
  it('runs a local mesh through its phases and exits 0', async () => {
    const r = await runPetrel(['demo', '--requests', '400']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Phase 1: healthy\n.*\n  => 100 requests, 100\.0% ok/);
    assert.match(r.stdout, /Phase 3: payments app is down\n.*\n  => 100 requests, 0\.0% ok, .*failures: UF x100/);
    assert.match(r.stdout, /\[payments sidecar\] petrel_requests_total\{direction="inbound",service="payments",peer_service="web".*flags="UF"\} 100/);
    assert.match(r.stdout, /Demo finished\./);
  });
});
