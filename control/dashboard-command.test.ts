import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { browserOpener, dashboardUrl, runDashboard } from './dashboard-command.ts';

describe('petrel dashboard', () => {
  it('puts the token in the fragment, which a browser never sends', () => {
    assert.equal(dashboardUrl('http://127.0.0.1:15014', undefined), 'http://127.0.0.1:15014/');
    const url = new URL(dashboardUrl('http://10.0.0.1:15014/ignored', 'a b&c'));
    assert.equal(url.pathname, '/');
    assert.equal(new URLSearchParams(url.hash.slice(1)).get('token'), 'a b&c');
  });

  it('opens a browser only where there is a display and xdg-open', () => {
    const bin = mkdtempSync(join(tmpdir(), 'petrel-xdg-'));
    writeFileSync(join(bin, 'xdg-open'), '#!/bin/sh\n');
    chmodSync(join(bin, 'xdg-open'), 0o755);
    assert.equal(browserOpener({ PATH: bin }), undefined, 'no display: print only');
    assert.equal(browserOpener({ PATH: '/nonexistent', DISPLAY: ':0' }), undefined, 'no xdg-open');
    assert.equal(browserOpener({ PATH: `/nonexistent:${bin}`, DISPLAY: ':0' }), join(bin, 'xdg-open'));
    assert.equal(browserOpener({ PATH: bin, WAYLAND_DISPLAY: 'wayland-0' }), join(bin, 'xdg-open'));
  });

  it('checks the control plane, prints the address and hands it to xdg-open', async () => {
    const server = createServer((req, res) => { res.writeHead(req.url === '/ready' ? 200 : 404); res.end('ok\n'); });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const control = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const dir = mkdtempSync(join(tmpdir(), 'petrel-dashboard-'));
    const opened = join(dir, 'opened');
    writeFileSync(join(dir, 'xdg-open'), `#!/bin/sh\nprintf '%s' "$1" > ${opened}\n`);
    chmodSync(join(dir, 'xdg-open'), 0o755);
    writeFileSync(join(dir, 'token'), 'tok\n');
    const lines: string[] = [];
    const code = await runDashboard({ control, tokenFile: join(dir, 'token'), open: true, out: (l) => lines.push(l), env: { PATH: dir, DISPLAY: ':0' } });
    assert.equal(code, 0);
    assert.equal(lines[0], `the mesh web view: ${control}/#token=tok`);
    const deadline = Date.now() + 5000;
    while (!existsSync(opened) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(readFileSync(opened, 'utf8'), `${control}/#token=tok`);
    const quiet: string[] = [];
    assert.equal(await runDashboard({ control, open: true, out: (l) => quiet.push(l), env: { PATH: dir } }), 0);
    assert.deepEqual(quiet, [`the mesh web view: ${control}/`, '(no display or no xdg-open here: open the address in a browser that can reach it, e.g. through ssh -L)']);
    server.close();
    const down: string[] = [];
    assert.equal(await runDashboard({ control, open: false, out: (l) => down.push(l) }), 1);
    assert.match(down[0] ?? '', /^petrel dashboard: cannot reach http:\/\/127\.0\.0\.1:\d+\/ready/);
  });
});
