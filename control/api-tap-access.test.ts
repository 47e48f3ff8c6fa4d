// Tap is privileged: with no token configured (Kubernetes runs with --token-review and no
// --token-file), only loopback callers may tap (the local CLI, `kubectl port-forward`); a caller from
// the network gets 403 with how to reach it, before any tap starts. With a token, the token decides.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { apiHandler, isLoopback, type ApiServerOptions } from './api-server.ts';
import { sharedSecret } from './auth.ts';
import { ControlMetrics } from './metrics.ts';
import type { TapHub } from './tap-hub.ts';

/** A real server whose handler sees the peer address we choose, and a hub that records opened taps. */
async function serve(options: Partial<ApiServerOptions>, peer: string): Promise<{ server: Server; port: number; opened: () => number }> {
  let opened = 0;
  const taps = { count: 0, open: (_r: unknown, res: { end: () => void }) => { opened++; res.end(); } } as unknown as TapHub;
  const handler = apiHandler({ statusAuth: undefined, sidecars: () => [], policies: () => ({ policies: [], errors: [] }), metrics: new ControlMetrics(() => 0, () => 0), taps, ...options });
  const server = createServer((req, res) => {
    Object.defineProperty(req.socket, 'remoteAddress', { value: peer, configurable: true });
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, opened: () => opened };
}

describe('who may tap', () => {
  const servers: Server[] = [];
  after(() => { for (const s of servers) s.close(); });
  const tap = (port: number, headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${port}/v1/tap?service=payments&max=1&duration=1s`, { headers });

  it('no token: a caller from the network gets 403 naming port-forward, and no tap opens', async () => {
    const s = await serve({}, '10.0.0.5');
    servers.push(s.server);
    const reply = await tap(s.port);
    assert.equal(reply.status, 403);
    assert.match(((await reply.json()) as { error: string }).error, /only loopback callers may tap; from outside the pod use kubectl -n petrel-system port-forward/);
    assert.equal(s.opened(), 0);
  });

  it('no token: loopback callers tap (IPv4, IPv6 and IPv4-mapped)', async () => {
    for (const peer of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      const s = await serve({}, peer);
      servers.push(s.server);
      assert.equal((await tap(s.port)).status, 200, peer);
      assert.equal(s.opened(), 1, peer);
    }
  });

  it('with a token: the token decides, from anywhere', async () => {
    const s = await serve({ statusAuth: sharedSecret('s3cret') }, '10.0.0.5');
    servers.push(s.server);
    assert.equal((await tap(s.port)).status, 401);
    assert.equal((await tap(s.port, { authorization: 'Bearer s3cret' })).status, 200);
    assert.equal(s.opened(), 1);
  });

  it('isLoopback', () => {
    assert.deepEqual(['127.0.0.1', '127.9.9.9', '::1', '::ffff:127.0.0.1', '10.0.0.5', '::ffff:10.0.0.5', '::2', undefined].map(isLoopback), [true, true, true, true, false, false, false, false]);
  });
});
