// `petrel demo` is the main job: it must run to the end by itself and behave as it explains.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { runPetrel } from './harness/processes.ts';

/** --requests 500 spread over the demo's eight phases. */
const N = Math.floor(500 / 8);
/** The progress lines a phase prints each second while it runs. */
const TICKS = '(?:  \\.\\.\\. .*\\n)*';

describe('petrel demo', () => {
  // One run of the demo; each test reads its part of the output.
  let r: Awaited<ReturnType<typeof runPetrel>>;
  before(async () => {
    r = await runPetrel(['demo', '--requests', '500']);
  });

  it('runs a local mesh through its phases and exits 0', () => {
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /both sidecars are ready and SYNCED with the control plane/);
    assert.match(r.stdout, /edited policies\/payments\.yaml; the control plane pushed it and the web sidecar applied it \d+ ms later/);
    assert.match(r.stdout, new RegExp(`Phase 1: healthy\\n.*\\n${TICKS}  => ${N} requests, 100\\.0% ok`));
    assert.match(r.stdout, new RegExp(`Phase 2: payments turns flaky .*\\n.*\\n${TICKS}  => ${N} requests, [6-9][0-9]\\.[0-9]% ok`));
    assert.match(r.stdout, new RegExp(`Phase 3: a resilience policy, applied live\\n.*\\n${TICKS}  => ${N} requests, (9[7-9]|100)\\.[0-9]% ok`));
    assert.match(r.stdout, new RegExp(`Phase 4: payments app is down\\n.*\\n${TICKS}  => ${N} requests, 0\\.0% ok, .*UO x`));
    assert.match(r.stdout, /probe: 200; petrel_circuit_state\{endpoint="payments-0"\} is now 0/);
    assert.match(r.stdout, new RegExp(`Phase 5: payments is back\\n.*\\n${TICKS}  => ${N} requests, 100\\.0% ok`));
    assert.match(r.stdout, /The web sidecar retried [1-9][0-9]* times; the payments-0 breaker opened 1 time\(s\) and closed 1 time\(s\)/);
    assert.match(r.stdout, /Demo finished\./);
    // Without a terminal and without --keep, it ends by itself, having printed the web view's address.
    assert.match(r.stdout, /^ {2}the mesh web view: http:\/\/127\.0\.0\.1:\d+\/ \(npx petrel dashboard --control http:\/\/127\.0\.0\.1:\d+\)$/m);
    assert.doesNotMatch(r.stdout, /Press Enter/);
  });

  it('rides gRPC calls out over a ledger pod that fails every call', () => {
    assert.match(r.stdout, /started ledger-0 \(healthy\) and ledger-1 \(fails every call with grpc-status 14 UNAVAILABLE\)/);
    assert.match(r.stdout, /policies\/ledger\.yaml: \{"retry":\{"attempts":3,"on":\["unavailable"\],"backoff":\{"base":"5ms","max":"20ms"\}\}\}\nPhase 6/);
    const phase = new RegExp(`Phase 6: gRPC: one of two ledger pods fails every call\\n.*balances each call, not the connection.*\\n${TICKS}` +
      `  => ${N} calls, 100\\.0% ok, p50 [0-9.]+ ms, p99 [0-9.]+ ms; failures: none\\n` +
      '  the web sidecar retried ([0-9]+) ledger calls; the ledger sidecars counted \\(petrel_requests_total\\): ' +
      'ledger-0 grpc_status="0" ([0-9]+), grpc_status="14" 0; ledger-1 grpc_status="0" 0, grpc_status="14" ([0-9]+)\\n').exec(r.stdout);
    assert.ok(phase, r.stdout);
    const [retries, ok0, unavailable1] = phase.slice(1).map(Number) as [number, number, number];
    // Every call succeeded on ledger-0, first try or retry; every UNAVAILABLE from ledger-1 was retried there, once.
    assert.equal(ok0, N);
    assert.ok(unavailable1 > 0, 'ledger-1 answered no call: the calls were not balanced over both pods');
    assert.equal(retries, unavailable1);
    // The web sidecar's own count: every call ended OK from the client's point of view.
    assert.match(r.stdout, new RegExp(`\\[web sidecar\\] petrel_requests_total\\{direction="outbound",service="web",peer_service="ledger",.*code="200",flags="-",grpc_status="0"\\} ${N}\\n`));
    assert.match(r.stdout, new RegExp(`\\[ledger-1 sidecar\\] petrel_requests_total\\{direction="inbound",service="ledger",.*grpc_status="14"\\} ${unavailable1}\\n`));
  });

  it('shifts payments to a canary by HTTPRoute weights while load runs, and prints the split it measured', () => {
    for (const [phase, share] of [['Phase 7: canary: an HTTPRoute sends 10% of payments to v2', 10], ['Phase 8: canary promoted: the same route at 50/50', 50]] as const) {
      const m = new RegExp(`${phase}\\n.*\\n${TICKS}  => ${N} requests, 100\\.0% ok.*\\n  measured split: payments \\(v1\\) ([0-9]+) calls, payments-v2 ([0-9]+) calls: [0-9.]+% to v2 \\(route says ${share}%\\)`).exec(r.stdout);
      assert.ok(m, r.stdout);
      const [v1, v2] = m.slice(1).map(Number) as [number, number];
      // Every call went to one of the two, and the split is within the demo's own binomial check.
      assert.equal(v1 + v2 >= N, true);
      const n = v1 + v2;
      assert.ok(Math.abs(v2 - (n * share) / 100) <= 4 * Math.sqrt(n * (share / 100) * (1 - share / 100)) + 1, `${v2} of ${n} to v2`);
    }
  });
});
