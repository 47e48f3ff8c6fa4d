// `petrel demo` is the main job: it must run to the end by itself and behave as it explains.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runPetrel } from './harness/processes.ts';

describe('petrel demo', () => {
  it('runs a local mesh through its phases and exits 0', async () => {
    const r = await runPetrel(['demo', '--requests', '500']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /both sidecars are ready and SYNCED with the control plane/);
    assert.match(r.stdout, /edited policies\/payments\.yaml; the control plane pushed it and the web sidecar applied it \d+ ms later/);
    assert.match(r.stdout, /Phase 1: healthy\n.*\n  => 100 requests, 100\.0% ok/);
    assert.match(r.stdout, /Phase 2: payments turns flaky .*\n.*\n  => 100 requests, [6-9][0-9]\.[0-9]% ok/);
    assert.match(r.stdout, /Phase 3: a resilience policy, applied live\n.*\n  => 100 requests, (9[7-9]|100)\.[0-9]% ok/);
    assert.match(r.stdout, /Phase 4: payments app is down\n.*\n  => 100 requests, 0\.0% ok, .*UO x/);
    assert.match(r.stdout, /probe: 200; petrel_circuit_state\{endpoint="payments-0"\} is now 0/);
    assert.match(r.stdout, /Phase 5: payments is back\n.*\n  => 100 requests, 100\.0% ok/);
    assert.match(r.stdout, /The web sidecar retried [1-9][0-9]* times; the payments-0 breaker opened 1 time\(s\) and closed 1 time\(s\)/);
    assert.match(r.stdout, /Demo finished\./);
  });
});
