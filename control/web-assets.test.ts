// The web view's files as the control plane serves them: a fixed allow-list with content types and
// a strict CSP, nothing else reachable, and the data behind the token while the page is not.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { apiHandler } from './api-server.ts';
import { sharedSecret } from './auth.ts';
import { ControlMetrics } from './metrics.ts';
import { CONTENT_SECURITY_POLICY, CYTOSCAPE_PATH, PAGE_FILES, WebAssets } from './web-assets.ts';

const WEB = resolve(import.meta.dirname, '..', 'web');

/** A GET with the path sent exactly as written (fetch would normalize "/../"). */
function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the web view\'s files on the API port', () => {
  let server: Server;
  let port: number;

  before(async () => {
    server = createServer(apiHandler({
      statusAuth: sharedSecret('s3cret'), sidecars: () => [], policies: () => ({ policies: [], errors: [] }),
      metrics: new ControlMetrics(() => 0, () => 0), topology: () => ({ windowSeconds: 30, nodes: [], edges: [] }), web: new WebAssets(),
    }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(() => server.close());

  it('lists every file of web/ but the build script, and nothing else', () => {
    const onDisk = readdirSync(WEB).filter((f) => f !== 'build.sh').sort();
    assert.deepEqual([...PAGE_FILES].sort(), onDisk);
    assert.deepEqual(new WebAssets().paths().sort(), ['/', ...PAGE_FILES.map((f) => `/${f}`), CYTOSCAPE_PATH].sort());
  });

  it('serves the page, its modules and the graph library with their types and a strict CSP, without a token', async () => {
    for (const [path, type] of [['/', 'text/html'], ['/index.html', 'text/html'], ['/app.js', 'text/javascript'], ['/style.css', 'text/css'], [CYTOSCAPE_PATH, 'text/javascript']] as const) {
      const r = await get(port, path);
      assert.equal(r.status, 200, path);
      assert.match(String(r.headers['content-type']), new RegExp(`^${type}`), path);
      assert.equal(r.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
    }
    assert.match(CONTENT_SECURITY_POLICY, /^default-src 'self'; script-src 'self'; style-src 'self'/);
    const index = (await get(port, '/')).body;
    assert.doesNotMatch(index, /<script(?![^>]*\bsrc=)/, 'no inline script');
    assert.doesNotMatch(index, /\bstyle=|<style/, 'no inline style');
    assert.doesNotMatch(index, /https?:\/\//, 'nothing from another origin');
    assert.match((await get(port, CYTOSCAPE_PATH)).body, /export\{\w+ as default\}/, 'the ESM build of cytoscape');
  });

  it('reaches no other file: traversal, encodings and folders are 404', async () => {
    for (const path of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/web/app.js', '/vendor/', '/build.sh', '/app.js/', '//etc/passwd', '/APP.JS', '/app.js%00.html']) {
      const r = await get(port, path);
      assert.equal(r.status, 404, `${path}: ${r.status} ${r.body.slice(0, 80)}`);
      assert.doesNotMatch(r.body, /"name": "petrel"|root:/);
    }
  });

  it('keeps the data behind the token: /v1/topology needs it, as /v1/status does', async () => {
    assert.equal((await get(port, '/v1/topology')).status, 401);
    const ok = await get(port, '/v1/topology', { authorization: 'Bearer s3cret' });
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.body), { windowSeconds: 30, nodes: [], edges: [] });
  });

  it('answers a build without the page\'s files with 500 and what to do', async () => {
    const empty = new WebAssets(join(WEB, 'no-such-folder'));
    const s = createServer((req, res) => { if (!empty.serve(req, res, req.url ?? '/')) res.end('not mine'); });
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    const r = await get((s.address() as AddressInfo).port, '/app.js');
    s.close();
    assert.equal(r.status, 500);
    assert.match(r.body, /run npm run build/);
  });
});
