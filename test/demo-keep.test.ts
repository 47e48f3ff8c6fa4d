// `petrel demo --keep`: at the end the mesh stays up, under light load, with the web view's address
// printed, until Enter; then it stops everything and exits.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { shouldKeepUp } from '../demo/keep-up.ts';
import { PETREL, REPO } from './harness/processes.ts';
import { waitFor } from './harness/wait.ts';

describe('petrel demo --keep', () => {
  it('waits only on a terminal or with --keep: scripts and CI get a demo that ends by itself', () => {
    assert.equal(shouldKeepUp(undefined, undefined), false);
    assert.equal(shouldKeepUp(false, false), false);
    assert.equal(shouldKeepUp(false, true), true);
    assert.equal(shouldKeepUp(true, undefined), true);
  });

  it('keeps the mesh up for the web view until Enter, then stops it', async () => {
    const proc = spawn(process.execPath, [PETREL, 'demo', '--requests', '200', '--keep'], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    proc.stderr.on('data', (d: Buffer) => { stdout += d.toString(); });
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    try {
      await waitFor(() => /Press Enter to stop it/.test(stdout), 'the demo to wait for Enter', 180_000);
      const url = /The mesh stays up, under light load, so you can look at it: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(stdout)?.[1];
      assert.ok(url, stdout);
      assert.equal(url, /the mesh web view: (\S+)/.exec(stdout)?.[1], 'the address printed at the start');
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>Petrel mesh<\/title>/);
      // Still up a while later, and the light load keeps calls flowing into the topology.
      await new Promise((r) => setTimeout(r, 6000));
      assert.equal(proc.exitCode, null, 'still running');
      const topology = (await (await fetch(`${url}v1/topology`)).json()) as { edges: { from: string; to: string; requestsPerSecond: number }[] };
      for (const to of ['payments', 'ledger']) assert.ok(topology.edges.some((e) => e.from === 'web' && e.to === to && e.requestsPerSecond > 0), `web -> ${to} in ${JSON.stringify(topology.edges)}`);
      const enter = Date.now();
      proc.stdin.write('\n');
      const code = await exited;
      assert.ok(Date.now() - enter < 30_000, 'stopped soon after Enter');
      assert.match(stdout, /Stopping the mesh\./);
      assert.equal(code, stdout.includes('Demo finished.') ? 0 : 1, stdout);
      await assert.rejects(fetch(url), 'the control plane is gone');
    } finally {
      proc.kill('SIGKILL');
    }
  });
});
