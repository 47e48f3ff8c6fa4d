// HTTP/2 at the listeners and between sidecars, without gRPC: one port for HTTP/1.1 and h2c, the
// protocol kept end to end, :authority routing, CONNECT to a mesh name served through the
// pipeline, and the upstream sessions (a second one past the peer's stream limit, GOAWAY and
// REFUSED_STREAM answered by a safe retry).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect as h2connect, constants, createServer as createH2Server, type ClientHttp2Session, type Http2Server, type IncomingHttpHeaders } from 'node:http2';
import { createServer as createHttp1Server, request as http1Request } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';

interface SeenRequest { protocol: string; authority: string; path: string; peer: string | undefined; session: number }

/** An app that serves HTTP/1.1 and h2c on one port and records how each request arrived. */
async function startDualApp(h2Settings: { maxConcurrentStreams?: number } = {}): Promise<{ port: number; seen: SeenRequest[]; h2: Http2Server; close(): void }> {
  const seen: SeenRequest[] = [];
  let sessions = 0;
  const h2 = createH2Server({ settings: h2Settings });
  h2.on('session', (session) => { (session as unknown as { n: number }).n = ++sessions; });
  h2.on('stream', (stream, headers) => {
    const n = (stream.session as unknown as { n: number }).n;
    seen.push({ protocol: 'h2', authority: String(headers[':authority']), path: String(headers[':path']), peer: headers['x-petrel-peer'] as string | undefined, session: n });
    const delay = Number(new URL(String(headers[':path']), 'http://x').searchParams.get('delay') ?? 0);
    setTimeout(() => {
      if (stream.closed) return;
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end(`h2 ${headers[':path']}`);
    }, delay);
  });
  const h1 = createHttp1Server((req, res) => {
    seen.push({ protocol: `http/${req.httpVersion}`, authority: String(req.headers.host), path: String(req.url), peer: req.headers['x-petrel-peer'] as string | undefined, session: 0 });
    res.end(`h1 ${req.url}`);
  });
  const server: Server = createNetServer((socket: Socket) => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      socket.unshift(chunk);
      if (chunk.toString('latin1', 0, 4) === 'PRI ') h2.emit('connection', socket);
      else {
        h1.emit('connection', socket);
        socket.resume();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as { port: number }).port, seen, h2, close: () => server.close() };
}

function h2get(session: ClientHttp2Session, authority: string, path = '/', method = 'GET'): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': path, ':authority': authority }, { endStream: method === 'GET' });
    if (method !== 'GET') stream.end('{}');
    let body = '';
    let headers: IncomingHttpHeaders = {};
    stream.on('response', (h) => { headers = h; });
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => { body += d; });
    stream.on('end', () => resolve({ status: Number(headers[':status']), headers, body }));
    stream.on('error', reject);
  });
}

function h1get(port: number, host: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http1Request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
}

describe('HTTP/2 and HTTP/1.1 on one listener, sidecar to sidecar', () => {
  let app: Awaited<ReturnType<typeof startDualApp>>;
  let callee: SidecarHandle;
  let caller: SidecarHandle;
  let session: ClientHttp2Session;

  before(async () => {
    app = await startDualApp();
    callee = await startSidecar({ service: 'payments', app: `127.0.0.1:${app.port}`, config: snapshot(1, []) });
    caller = await startSidecar({ service: 'web', config: snapshot(1, [{ name: 'payments', endpoints: [`127.0.0.1:${callee.inboundPort}`] }]) });
    session = h2connect(`http://127.0.0.1:${caller.outboundPort}`);
  });
  after(async () => {
    session.close();
    await Promise.all([caller.stop(), callee.stop()]);
    app.close();
  });

  it('serves h2c and HTTP/1.1 on the same outbound port, each reaching the app in its own protocol', async () => {
    app.seen.length = 0;
    const h2 = await h2get(session, 'payments', '/a');
    const h1 = await h1get(caller.outboundPort, 'payments', '/b');
    assert.equal(h2.status, 200);
    assert.equal(h2.body, 'h2 /a');
    assert.equal(h1.body, 'h1 /b');
    assert.deepEqual(app.seen.map((s) => [s.protocol, s.authority, s.path]), [['h2', 'payments', '/a'], ['http/1.1', 'payments', '/b']]);
    assert.equal(app.seen[0]?.peer, undefined, 'x-petrel-peer never reaches the app');
    assert.equal(await caller.metric('petrel_requests_total', { direction: 'outbound', peer_service: 'payments', code: '200', grpc_status: '' }), 2);
    assert.equal(await callee.metric('petrel_requests_total', { direction: 'inbound', peer_service: 'web', code: '200' }), 2);
  });

  it('routes by :authority and answers what it cannot route with a flagged JSON reply', async () => {
    const withPort = await h2get(session, 'payments.default.svc.cluster.local:80', '/c');
    assert.equal(withPort.status, 200);
    const refused = await h2get(session, 'payments.other', '/d');
    assert.equal(refused.headers['petrel-error'], 'UF', 'a name outside the mesh is passed through, and nobody answers it');
    const connect = await new Promise<number>((resolve) => {
      const s = session.request({ ':method': 'CONNECT', ':authority': 'payments:80' });
      s.resume();
      s.on('response', (h) => resolve(Number(h[':status'])));
      s.on('error', () => resolve(-1));
    });
    assert.equal(connect, 400, 'CONNECT over HTTP/2 is refused as the client\'s mistake');
  });

  it('serves a CONNECT to a mesh service name through the pipeline: HTTP/1.1 and HTTP/2 inside are routed and counted', async () => {
    const before200 = await caller.metric('petrel_requests_total', { direction: 'outbound', peer_service: 'payments', code: '200' });
    const tunnel = async (): Promise<Socket> => {
      const socket = netConnect(caller.outboundPort, '127.0.0.1');
      await once(socket, 'connect');
      socket.write('CONNECT payments:80 HTTP/1.1\r\nHost: payments:80\r\n\r\n');
      const [head] = await once(socket, 'data') as [Buffer];
      assert.match(head.toString(), /^HTTP\/1\.1 200 /);
      return socket;
    };
    const s1 = await tunnel();
    s1.write('GET /in-tunnel HTTP/1.1\r\nHost: payments\r\nConnection: close\r\n\r\n');
    let text = '';
    s1.on('data', (d: Buffer) => { text += d.toString(); });
    await once(s1, 'end');
    assert.match(text, /^HTTP\/1\.1 200 [\s\S]*h1 \/in-tunnel$/);
    const s2 = await tunnel();
    const inner = h2connect('http://payments', { createConnection: () => s2 });
    const h2 = await h2get(inner, 'payments', '/h2-in-tunnel');
    inner.close();
    assert.equal(h2.body, 'h2 /h2-in-tunnel');
    assert.equal(await caller.metric('petrel_requests_total', { direction: 'outbound', peer_service: 'payments', code: '200' }), before200 + 2);
  });
});

describe('upstream HTTP/2 sessions', () => {
  it('opens another session when the peer\'s stream limit is reached, and keeps one otherwise', async () => {
    const app = await startDualApp({ maxConcurrentStreams: 2 });
    const caller = await startSidecar({ service: 'web', config: snapshot(1, [{ name: 'slow', endpoints: [`127.0.0.1:${app.port}`] }]) });
    const session = h2connect(`http://127.0.0.1:${caller.outboundPort}`);
    try {
      await h2get(session, 'slow', '/warm');
      const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => h2get(session, 'slow', `/p${i}?delay=200`)));
      assert.ok(replies.every((r) => r.status === 200), JSON.stringify(replies.map((r) => r.status)));
      const sessions = new Set(app.seen.filter((s) => s.path.includes('delay')).map((s) => s.session));
      assert.equal(sessions.size, 3, '6 concurrent streams at 2 per session take 3 sessions');
      app.seen.length = 0;
      for (let i = 0; i < 5; i++) await h2get(session, 'slow', `/seq${i}`);
      assert.equal(new Set(app.seen.map((s) => s.session)).size, 1, 'sequential streams share one session');
    } finally {
      session.close();
      await caller.stop();
      app.close();
    }
  });

  it('moves to a new session after GOAWAY, and resends a refused stream (even a POST) without the client seeing it', async () => {
    const app = await startDualApp();
    let refuse = 0;
    let goaway = false;
    app.h2.prependListener('stream', (stream, headers) => {
      if (headers[':path'] === '/refuse' && refuse > 0) {
        refuse--;
        stream.on('error', () => {}); // the app's own stream reports the refusal
        stream.close(constants.NGHTTP2_REFUSED_STREAM);
      } else if (headers[':path'] === '/goaway' && goaway) {
        goaway = false;
        stream.session?.close(); // graceful: this stream finishes, the next goes to a new session
      }
    });
    const caller = await startSidecar({ service: 'web', config: snapshot(1, [{ name: 'api', endpoints: [`127.0.0.1:${app.port}`] }]) });
    const session = h2connect(`http://127.0.0.1:${caller.outboundPort}`);
    try {
      refuse = 1;
      const refused = await h2get(session, 'api', '/refuse', 'POST');
      assert.equal(refused.status, 200, JSON.stringify(refused));
      assert.equal(refuse, 0, 'the first stream was refused');
      goaway = true;
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await h2get(session, 'api', '/goaway')).status);
      assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
      const goawaySessions = new Set(app.seen.filter((s) => s.path === '/goaway').map((s) => s.session));
      assert.equal(goawaySessions.size, 2, 'the session that said GOAWAY took no new stream');
    } finally {
      session.close();
      await caller.stop();
      app.close();
    }
  });
  it('drains HTTP/2 clients with GOAWAY: the stream in flight finishes, the client learns to go elsewhere', async () => {
    const app = await startDualApp();
    const caller = await startSidecar({ service: 'web', config: snapshot(1, [{ name: 'api', endpoints: [`127.0.0.1:${app.port}`] }]) });
    const session = h2connect(`http://127.0.0.1:${caller.outboundPort}`);
    try {
      await h2get(session, 'api', '/warm');
      const goaway = once(session, 'goaway');
      const slow = h2get(session, 'api', '/slow?delay=300');
      await new Promise((r) => setTimeout(r, 50));
      assert.equal((await caller.admin('/drain', { method: 'POST' })).status, 202);
      await goaway;
      const reply = await slow;
      assert.equal(reply.status, 200, 'the stream in flight finished');
      assert.equal(reply.body, 'h2 /slow?delay=300');
      assert.equal((await caller.admin('/ready')).status, 503, 'a draining sidecar is not ready');
    } finally {
      session.destroy();
      await caller.stop();
      app.close();
    }
  });
});
