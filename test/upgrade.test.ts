// WebSocket and every other HTTP Upgrade are tunnelled both ways through the sidecar pair, and
// CONNECT gives an opaque TCP tunnel through the outbound listener.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createTcpServer, connect, type AddressInfo, type Server as TcpServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocket, WebSocketServer } from 'ws';
import { rawExchange } from './harness/client.ts';
import { snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

describe('upgrades and tunnels', () => {
  let app: Upstream;
  let wss: WebSocketServer;
  let tcpEcho: TcpServer;
  let outbound: SidecarHandle;
  let inbound: SidecarHandle;

  before(async () => {
    app = await startUpstream((_req, res) => res.end('plain'));
    wss = new WebSocketServer({ noServer: true });
    wss.on('connection', (ws, req) => {
      ws.send(`hello ${req.headers['x-request-id'] ? 'with-id' : 'no-id'}`);
      ws.on('message', (data, binary) => ws.send(binary ? data : `echo:${data.toString()}`, { binary }));
    });
    app.server.on('upgrade', (req, socket, head) => {
      if (req.headers.upgrade?.toLowerCase() === 'websocket') {
        wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
        return;
      }
      // A made-up protocol: switch, then echo bytes upper-cased.
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: shout/1\r\n\r\n');
      socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
    });
    tcpEcho = createTcpServer((s) => s.pipe(s));
    tcpEcho.listen(0, '127.0.0.1');
    await once(tcpEcho, 'listening');
    inbound = await startSidecar({ service: 'chat', app: app.address, config: snapshot(1, []) });
    outbound = await startSidecar({ service: 'web', config: snapshot(1, [{ name: 'chat', endpoints: [`127.0.0.1:${inbound.inboundPort}`] }]) });
  });

  after(async () => {
    await Promise.all([outbound?.stop('SIGKILL'), inbound?.stop('SIGKILL')]);
    wss?.close();
    tcpEcho?.close();
    await app?.close();
  });

  it('tunnels a WebSocket through both sidecars, text and binary, both ways', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${outbound.outboundPort}/socket`, { headers: { host: 'chat' } });
    const messages: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      ws.on('message', (data: Buffer, binary: boolean) => {
        messages.push(binary ? `binary:${data.toString('hex')}` : data.toString());
        if (messages.length === 3) resolve();
      });
      ws.on('error', reject);
    });
    await once(ws, 'open');
    ws.send('ping');
    ws.send(Buffer.from([1, 2, 255]), { binary: true });
    await done;
    ws.close();
    assert.deepEqual(messages, ['hello with-id', 'echo:ping', 'binary:0102ff']);
    assert.ok(await inbound.metric('petrel_requests_total', { direction: 'inbound', peer_service: 'web', code: '101' }) >= 1);
  });

  it('tunnels an arbitrary Upgrade through the sidecar pair', async () => {
    const socket = connect(outbound.outboundPort, '127.0.0.1');
    let out = '';
    socket.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\r\n\r\n') && !out.includes('HELLO')) socket.write('hello there');
    });
    socket.write('GET /shout HTTP/1.1\r\nHost: chat\r\nConnection: Upgrade\r\nUpgrade: shout/1\r\n\r\n');
    const deadline = Date.now() + 5000;
    while (!out.includes('HELLO THERE') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    socket.destroy();
    assert.match(out, /^HTTP\/1\.1 101 /);
    assert.match(out, /HELLO THERE$/);
    assert.ok(await outbound.metric('petrel_requests_total', { peer_service: 'chat', code: '101' }) >= 1);
  });

  it('answers UF when the upgrade target is down', async () => {
    const dead = await startSidecar({ service: 'web2', config: snapshot(1, [{ name: 'chat', endpoints: ['127.0.0.1:1'] }]) });
    try {
      const raw = await rawExchange(dead.outboundPort, 'GET / HTTP/1.1\r\nHost: chat\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      assert.match(raw, /^HTTP\/1\.1 503 /);
      assert.match(raw, /petrel-error: UF/);
    } finally {
      await dead.stop('SIGKILL');
    }
  });

  it('tunnels CONNECT as opaque TCP to the named destination', async () => {
    const { port } = tcpEcho.address() as AddressInfo;
    const socket = connect(outbound.outboundPort, '127.0.0.1');
    let out = '';
    socket.on('data', (d: Buffer) => {
      out += d.toString('latin1');
      if (out === 'HTTP/1.1 200 Connection Established\r\n\r\n') socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00]));
    });
    socket.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    const deadline = Date.now() + 5000;
    while (out.length < 43 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    socket.destroy();
    assert.equal(out, 'HTTP/1.1 200 Connection Established\r\n\r\n\x16\x03\x01\x00');
  });
});
