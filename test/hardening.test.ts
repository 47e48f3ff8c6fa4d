// A proxy faces untrusted bytes: oversized heads, slowloris, request smuggling and connection
// floods are refused at the listener, answered with a flagged error, and never reach the app.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { call, rawExchange } from './harness/client.ts';
import { snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { echoHandler, startUpstream, type Upstream } from './harness/upstream.ts';

describe('listener hardening', () => {
  let app: Upstream;
  let sidecar: SidecarHandle;

  before(async () => {
    app = await startUpstream(echoHandler);
    sidecar = await startSidecar({
      service: 'payments', app: app.address, config: snapshot(1, []),
      args: ['--max-header-size', '4096', '--header-timeout', '500ms', '--max-connections', '8'],
    });
  });

  after(async () => {
    await sidecar?.stop('SIGKILL');
    await app?.close();
  });

  it('answers 431 to a request head over the size limit', async () => {
    const before = app.received.length;
    const raw = await rawExchange(sidecar.inboundPort, `GET / HTTP/1.1\r\nHost: payments\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
    assert.match(raw, /^HTTP\/1\.1 431 /);
    assert.match(raw, /petrel-error: DPE/);
    assert.equal(app.received.length, before);
  });

  it('closes a slowloris connection with 408 after the header timeout', async () => {
    const started = Date.now();
    const socket = connect(sidecar.inboundPort, '127.0.0.1');
    let out = '';
    socket.on('data', (d: Buffer) => { out += d.toString(); });
    const drip = setInterval(() => { if (socket.writable) socket.write('X-Drip: 1\r\n'); }, 100);
    socket.write('GET / HTTP/1.1\r\nHost: payments\r\n');
    await new Promise((r) => socket.once('close', r));
    clearInterval(drip);
    const elapsed = Date.now() - started;
    assert.match(out, /^HTTP\/1\.1 408 /);
    assert.ok(elapsed >= 450 && elapsed < 5000, `closed after ${elapsed}ms`);
  });

  it('refuses Content-Length together with Transfer-Encoding (smuggling) with 400, sending nothing upstream', async () => {
    const before = app.received.length;
    const raw = await rawExchange(sidecar.inboundPort,
      'POST / HTTP/1.1\r\nHost: payments\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: payments\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.doesNotMatch(raw, /HTTP\/1\.1 200/);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(app.received.length, before);
  });

  it('refuses two different Content-Length values with 400', async () => {
    const before = app.received.length;
    const raw = await rawExchange(sidecar.inboundPort, 'POST / HTTP/1.1\r\nHost: payments\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!');
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.equal(app.received.length, before);
  });

  it('refuses a bad chunk size with 400, sending nothing upstream', async () => {
    // A warm keep-alive connection to the app, so nothing waits on a connect that could hide a leak.
    assert.equal((await call(sidecar.inboundPort, { headers: { host: 'payments' } })).status, 200);
    const before = app.received.length;
    const raw = await rawExchange(sidecar.inboundPort, 'POST /x HTTP/1.1\r\nHost: payments\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 /);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(app.received.length, before);
  });

  it('refuses an obfuscated Transfer-Encoding with 400', async () => {
    const before = app.received.length;
    const raw = await rawExchange(sidecar.inboundPort, 'POST / HTTP/1.1\r\nHost: payments\r\nTransfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 /);
    assert.equal(app.received.length, before);
  });

  it('closes connections beyond the connection limit and counts them', async () => {
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 8; i++) {
        const s = connect(sidecar.inboundPort, '127.0.0.1');
        await new Promise((r) => s.once('connect', r));
        held.push(s);
      }
      await new Promise((r) => setTimeout(r, 100));
      const extra = await rawExchange(sidecar.inboundPort, 'GET / HTTP/1.1\r\nHost: payments\r\n\r\n', 1000).catch(() => '');
      assert.equal(extra, '', 'the connection over the limit is closed without an answer');
      assert.ok(await sidecar.metric('petrel_listener_connections_dropped_total', { listener: 'inbound' }) >= 1);
    } finally {
      held.forEach((s) => s.destroy());
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await call(sidecar.inboundPort, { headers: { host: 'payments' } })).status, 200, 'serves again once under the limit');
  });
});
