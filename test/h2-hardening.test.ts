// HTTP/2 attacks against real sidecars on loopback, frame by frame (test/harness/h2-frames.ts).
// A dual-protocol app (HTTP/1.1 and h2c on one port) sits behind a callee sidecar ("payments"); a
// caller sidecar lists payments. Each attack goes to the caller's outbound listener and to the
// callee's inbound listener (callers outside the mesh reach it too), and each must leave:
//   - the connection closed (GOAWAY or a cut), the attacker throttled, or, for the flow-control cases,
//     the offending streams stalled at the window the client gave;
//   - both sidecars' memory bounded (RSS from /proc, sampled throughout, growth under a stated bound);
//   - the sidecar serving (a normal HTTP/1.1 and a normal HTTP/2 request succeed afterwards);
//   - nothing unbounded at the app (it counts every request and every byte it wrote).
// Every loop is bounded in count and time. The first block checks the frame harness itself against a
// bare node:http2 server, so a failure below is the sidecar's, not the harness's.
// Not here: the stream idle timeout (5 minutes, fixed) that ends a stalled stream whose client stays.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as h2connect, constants as h2, createServer as createH2Server, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { call } from './harness/client.ts';
import { startDualProtocolApp, type DualProtocolApp } from './harness/dual-protocol-app.ts';
import {
  continuationFrame, dataFrame, ErrorCode, errorName, Flag, flood, FrameParser, FrameType, goawayFrame, H2Connection, headersFrame,
  hpackLiterals, pingFrame, requestFrames, requestHeaderList, rstStreamFrame, Setting, settingsFrame, windowUpdateFrame,
  type FloodResult, type HeaderList,
} from './harness/h2-frames.ts';
import { snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { H2_MAX_CONCURRENT_STREAMS } from '../sidecar/listener/http2-listener.ts';
import { waitFor } from './harness/wait.ts';

const HOST = 'payments';
const KiB = 1024;
const MiB = 1024 * KiB;
/** The listeners' header list limit (contract: maxHeaderListSize 16 KiB, as HTTP/1's maxHeaderSize). */
const MAX_HEADER_LIST = 16 * KiB;
/** The listeners' maxConcurrentStreams. */
const MAX_STREAMS = H2_MAX_CONCURRENT_STREAMS;
/**
 * RSS growth over the sidecar's own baseline that one attack may cause. Node allocates per frame and
 * per stream and V8 frees in batches, so tens of MB of transient garbage are normal; a sidecar that
 * kept state per reset stream, queued every PING ACK or buffered a body the client never reads grows
 * by hundreds of MB to GBs in these tests.
 */
const FLOOD_RSS_BOUND_KB = 64 * 1024;
/**
 * The same for one client connection whose streams stall on flow control, however many streams it
 * opens (up to maxConcurrentStreams): what a sidecar may hold for one connection that reads nothing.
 * pick: a quarter of a GiB. Envoy bounds a connection's buffers at 1 MiB by default
 * (per_connection_buffer_limit_bytes); Petrel bounds them by its stream window times its stream limit.
 */
const CONNECTION_RSS_BOUND_KB = 256 * 1024;
/** What the app may write for one response nobody reads: the windows and socket buffers in between. */
const STALLED_APP_BYTES_BOUND = 64 * MiB;
/** Each /big answer: far more than any window or buffer, so an unbounded relay shows. */
const BIG_BYTES = 256 * MiB;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `read()` stays the same for `quietMs`; throws naming `what` when it keeps moving past `timeoutMs`. */
async function settled(read: () => number, what: string, quietMs = 500, timeoutMs = 15_000): Promise<number> {
  const started = Date.now();
  let value = read();
  let since = Date.now();
  for (;;) {
    await sleep(50);
    const now = read();
    if (now !== value) { value = now; since = Date.now(); }
    if (Date.now() - since >= quietMs) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`${what} still moving after ${timeoutMs} ms (now ${value})`);
  }
}

/** One normal HTTP/2 request with node:http2 (a fresh session), bounded by `timeoutMs`. */
function h2Get(port: number, authority: string, path: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    const timer = setTimeout(() => { session.destroy(); reject(new Error(`HTTP/2 GET ${path} to :${port}: no answer in ${timeoutMs} ms`)); }, timeoutMs);
    const fail = (err: Error): void => { clearTimeout(timer); session.destroy(); reject(err); };
    session.on('error', fail);
    const req = session.request({ [h2.HTTP2_HEADER_PATH]: path, [h2.HTTP2_HEADER_AUTHORITY]: authority });
    let status = 0;
    let body = '';
    req.setEncoding('utf8');
    req.on('response', (headers) => { status = Number(headers[h2.HTTP2_HEADER_STATUS]); });
    req.on('data', (d: string) => { body += d; });
    req.on('end', () => { clearTimeout(timer); session.close(); resolve({ status, body }); });
    req.on('error', fail);
    req.end();
  });
}

/** `n` regular headers of `valueBytes` each, distinct names. */
function manyHeaders(n: number, valueBytes: number): HeaderList {
  return Array.from({ length: n }, (_, i) => [`x-h${i}`, 'v'.repeat(valueBytes)] as const);
}

/** HPACK's size of a header list (RFC 7541 §4.1: name + value + 32 per field), as SETTINGS_MAX_HEADER_LIST_SIZE counts it. */
function listSize(headers: HeaderList): number {
  return headers.reduce((sum, [n, v]) => sum + n.length + v.length + 32, 0);
}

// ---------------------------------------------------------------------------------------------
// The attacks, each a function of a port, so the harness check and the sidecar tests share them.

/** HEADERS (a request) then RST_STREAM(CANCEL), `pairs` times on one connection (CVE-2023-44487). */
async function rapidReset(port: number, path: string, pairs: number): Promise<{ conn: H2Connection; result: FloodResult }> {
  const conn = await H2Connection.open(port);
  const result = await flood(conn, (i) => Buffer.concat([requestFrames(2 * i + 1, { authority: HOST, path: `${path}/${i}` }), rstStreamFrame(2 * i + 1)]),
    { count: pairs, batch: 100, timeMs: 10_000 });
  return { conn, result };
}

/** HEADERS without END_HEADERS, then up to `frames` CONTINUATION frames that never end the block. */
async function continuationFlood(port: number, path: string, frames: number, fieldPerFrame: boolean): Promise<{ conn: H2Connection; result: FloodResult }> {
  const conn = await H2Connection.open(port);
  conn.write(headersFrame(1, hpackLiterals(requestHeaderList({ authority: HOST, path })), { endHeaders: false, endStream: true }));
  const piece = fieldPerFrame ? hpackLiterals([['x-c', 'continued']]) : Buffer.alloc(0);
  const result = await flood(conn, () => continuationFrame(1, piece), { count: frames, batch: 200, timeMs: 10_000 });
  return { conn, result };
}

/** Control frames that each want an ACK, from a client that never reads the ACKs. */
async function controlFlood(port: number, kind: 'SETTINGS' | 'PING', frames: number): Promise<{ conn: H2Connection; result: FloodResult }> {
  const conn = await H2Connection.open(port);
  conn.pauseReading();
  const unit = kind === 'SETTINGS'
    ? (): Buffer => settingsFrame([[Setting.MAX_CONCURRENT_STREAMS, 100], [Setting.INITIAL_WINDOW_SIZE, 65_535]])
    : (i: number): Buffer => { const b = Buffer.alloc(8); b.writeUInt32BE(i); return pingFrame(b); };
  const result = await flood(conn, unit, { count: frames, batch: 1000, timeMs: 10_000 });
  return { conn, result };
}

function describeFlood(what: string, conn: H2Connection, result: FloodResult): string {
  return `${what}: sent ${result.sent} in ${result.ms} ms${result.throttled ? ', throttled' : ''}; connection ${conn.describe()}`;
}

// ---------------------------------------------------------------------------------------------

describe('the HTTP/2 frame harness, against a bare node:http2 server', () => {
  let server: Http2Server;
  let port = 0;
  const seen: { headers: Record<string, string | string[] | undefined>; body: string; rstCode?: number }[] = [];

  before(async () => {
    server = createH2Server({ settings: { maxHeaderListSize: MAX_HEADER_LIST, maxConcurrentStreams: MAX_STREAMS } });
    server.on('stream', (stream: ServerHttp2Stream, headers) => {
      const record: (typeof seen)[number] = { headers: { ...headers }, body: '' };
      seen.push(record);
      stream.on('error', () => { /* reset by the client */ });
      stream.on('close', () => { record.rstCode = stream.rstCode; });
      stream.setEncoding('utf8');
      stream.on('data', (d: string) => { record.body += d; });
      stream.on('end', () => {
        if (stream.destroyed) return;
        const path = String(headers[h2.HTTP2_HEADER_PATH]);
        if (path === '/hold') return;
        stream.respond({ [h2.HTTP2_HEADER_STATUS]: 200 });
        stream.end(`hello ${path}`);
      });
    });
    server.on('sessionError', () => { /* the attacks */ });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(() => { server?.close(); });

  it('handshakes: the server SETTINGS arrive and ours are ACKed', async () => {
    const conn = await H2Connection.open(port, { settings: [[Setting.ENABLE_PUSH, 0]] });
    try {
      assert.ok(await conn.waitFor(() => conn.serverSettings !== undefined && conn.count(FrameType.SETTINGS) >= 2, 2000), conn.describe());
      assert.deepEqual(conn.serverSettings?.find(([id]) => id === Setting.MAX_HEADER_LIST_SIZE), [Setting.MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST]);
    } finally { conn.destroy(); }
  });

  it('sends a request whose literal headers the server decodes exactly, and reads the answer', async () => {
    const conn = await H2Connection.open(port);
    try {
      conn.write(requestFrames(1, { authority: 'a.example', path: '/one', headers: [['x-test', 'value 1'], ['x-long', 'l'.repeat(300)]] }));
      assert.ok(await conn.waitFor(() => conn.stream(1)?.ended === true, 2000), conn.describe());
      const got = seen.at(-1)?.headers ?? {};
      assert.equal(got[':method'], 'GET');
      assert.equal(got[':authority'], 'a.example');
      assert.equal(got[':path'], '/one');
      assert.equal(got['x-test'], 'value 1');
      assert.equal(got['x-long'], 'l'.repeat(300));
      assert.equal(conn.stream(1)?.headers, 1);
      assert.equal(conn.stream(1)?.dataBytes, 'hello /one'.length);
    } finally { conn.destroy(); }
  });

  it('splits a large header block into HEADERS and CONTINUATION frames, and sends a DATA body', async () => {
    const conn = await H2Connection.open(port);
    try {
      const headers = manyHeaders(20, 500); // ~10 KB, sent in 4 KiB frames
      const frames = requestFrames(1, { method: 'POST', authority: 'a.example', path: '/split', headers }, false, 4096);
      const types = new FrameParser().push(frames).map((f) => f.type);
      assert.deepEqual(types, [FrameType.HEADERS, FrameType.CONTINUATION, FrameType.CONTINUATION]);
      conn.write(Buffer.concat([frames, dataFrame(1, Buffer.from('body part 1, ')), dataFrame(1, Buffer.from('part 2'), true)]));
      assert.ok(await conn.waitFor(() => conn.stream(1)?.ended === true, 2000), conn.describe());
      const record = seen.at(-1);
      assert.equal(record?.headers['x-h19'], 'v'.repeat(500));
      assert.equal(record?.body, 'body part 1, part 2');
    } finally { conn.destroy(); }
  });

  it('gets its PING back as an ACK with the same payload', async () => {
    const conn = await H2Connection.open(port);
    try {
      const collected: Buffer[] = [];
      conn.socket.on('data', (d: Buffer) => collected.push(d));
      conn.write(pingFrame(Buffer.from('12345678')));
      assert.ok(await conn.waitFor(() => conn.count(FrameType.PING) === 1, 2000), conn.describe());
      const raw = Buffer.concat(collected);
      const at = raw.indexOf(Buffer.from([0, 0, 8, FrameType.PING, Flag.ACK, 0, 0, 0, 0]));
      assert.ok(at >= 0, 'a PING frame with the ACK flag');
      assert.equal(raw.subarray(at + 9, at + 17).toString(), '12345678');
    } finally { conn.destroy(); }
  });

  it('resets a stream: the server sees RST_STREAM(CANCEL)', async () => {
    const conn = await H2Connection.open(port);
    try {
      conn.write(requestFrames(1, { authority: 'a.example', path: '/hold' }));
      await waitFor(() => seen.at(-1)?.headers[':path'] === '/hold', 'the held stream');
      const record = seen.at(-1);
      conn.write(rstStreamFrame(1, ErrorCode.CANCEL));
      await waitFor(() => record?.rstCode !== undefined, 'the server stream to close');
      assert.equal(record?.rstCode, h2.NGHTTP2_CANCEL);
    } finally { conn.destroy(); }
  });

  it('holds a zero-window response until WINDOW_UPDATE opens it', async () => {
    const conn = await H2Connection.open(port, { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
    try {
      assert.ok(await conn.waitFor(() => conn.count(FrameType.SETTINGS) >= 2, 2000), 'the server ACKed the zero window');
      conn.write(requestFrames(1, { authority: 'a.example', path: '/zero' }));
      assert.ok(await conn.waitFor(() => (conn.stream(1)?.headers ?? 0) > 0, 2000), conn.describe());
      assert.equal(await conn.waitFor(() => (conn.stream(1)?.dataBytes ?? 0) > 0, 300), false, 'no DATA into a zero window');
      conn.write(windowUpdateFrame(1, 65_535));
      assert.ok(await conn.waitFor(() => conn.stream(1)?.ended === true, 2000), conn.describe());
      assert.equal(conn.stream(1)?.dataBytes, 'hello /zero'.length);
    } finally { conn.destroy(); }
  });

  it('reads a GOAWAY: DATA on stream 0 is a connection error', async () => {
    const conn = await H2Connection.open(port);
    try {
      conn.write(dataFrame(0, Buffer.from('x')));
      assert.ok(await conn.waitClosed(2000), conn.describe());
      assert.equal(conn.goaway?.errorCode, ErrorCode.PROTOCOL_ERROR, conn.describe());
    } finally { conn.destroy(); }
  });

  it('ends its own connection with GOAWAY', async () => {
    const conn = await H2Connection.open(port);
    try {
      conn.write(requestFrames(1, { authority: 'a.example', path: '/bye' }));
      assert.ok(await conn.waitFor(() => conn.stream(1)?.ended === true, 2000), conn.describe());
      conn.write(goawayFrame(1));
      assert.ok(await conn.waitClosed(2000), conn.describe());
    } finally { conn.destroy(); }
  });

  // The same attacks as below, to show their frames trip node:http2's own defences: where a sidecar
  // test fails, the sidecar (not the attack) behaves differently.
  it('rapid reset trips the bare server: GOAWAY long before 20 000 pairs', async () => {
    const before = seen.length;
    const { conn, result } = await rapidReset(port, '/rr', 20_000);
    try {
      assert.ok(await conn.waitClosed(5000), describeFlood('rapid reset', conn, result));
      assert.ok(conn.goaway !== undefined, describeFlood('rapid reset', conn, result));
      assert.ok(seen.length - before < 2000, `${seen.length - before} streams reached the handler`);
    } finally { conn.destroy(); }
  });

  it('a CONTINUATION flood, a SETTINGS flood and a PING flood trip the bare server', async () => {
    for (const attack of [() => continuationFlood(port, '/cf', 100_000, true), () => controlFlood(port, 'SETTINGS', 200_000), () => controlFlood(port, 'PING', 200_000)]) {
      const { conn, result } = await attack();
      try {
        conn.resumeReading();
        assert.ok(await conn.waitClosed(5000), describeFlood('flood', conn, result));
      } finally { conn.destroy(); }
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe('HTTP/2 attacks against the sidecar', () => {
  let app: DualProtocolApp;
  let callee: SidecarHandle; // payments, in front of the app
  let caller: SidecarHandle; // web, with payments in its snapshot

  before(async () => {
    app = await startDualProtocolApp({ bigBytes: BIG_BYTES });
    callee = await startSidecar({ service: HOST, app: app.address, config: snapshot(1, []) });
    caller = await startSidecar({ service: 'web', config: snapshot(1, [{ name: HOST, endpoints: [`127.0.0.1:${callee.inboundPort}`] }]) });
  });

  after(async () => {
    await Promise.all([caller?.stop('SIGKILL'), callee?.stop('SIGKILL')]);
    await app?.close();
  });

  interface Watch {
    /** Largest RSS growth over each sidecar's baseline seen so far, kB. */
    growthKb(): { caller: number; callee: number };
    stop(): { caller: number; callee: number };
  }

  /** Samples both sidecars' RSS every 25 ms from now on. */
  function watchRss(): Watch {
    const base = { caller: caller.rssKb(), callee: callee.rssKb() };
    const peak = { ...base };
    const sample = (): void => {
      try {
        peak.caller = Math.max(peak.caller, caller.rssKb());
        peak.callee = Math.max(peak.callee, callee.rssKb());
      } catch { /* a sidecar died: the serving check says so */ }
    };
    const timer = setInterval(sample, 25);
    timer.unref();
    const growthKb = (): { caller: number; callee: number } => ({ caller: peak.caller - base.caller, callee: peak.callee - base.callee });
    return { growthKb, stop: () => { clearInterval(timer); sample(); return growthKb(); } };
  }

  function assertRss(watch: Watch, boundKb: number, what: string): void {
    const growth = watch.stop();
    for (const [name, kb] of Object.entries(growth)) {
      assert.ok(kb < boundKb, `${what}: the ${name} sidecar's RSS grew by ${Math.round(kb / 1024)} MB (bound ${boundKb / 1024} MB)`);
    }
  }

  /** The sidecar at `port` still serves a normal HTTP/1.1 and a normal HTTP/2 request. */
  async function assertServes(port: number, what: string): Promise<void> {
    const h1 = await Promise.race([
      call(port, { path: '/after-h1', headers: { host: HOST } }),
      sleep(5000).then(() => { throw new Error(`HTTP/1.1 GET after ${what}: no answer in 5000 ms`); }),
    ]);
    assert.equal(h1.status, 200, `HTTP/1.1 after ${what}: ${h1.body}`);
    assert.equal(JSON.parse(h1.body).protocol, 'http/1.1', `HTTP/1.1 stays HTTP/1.1 to the app: ${h1.body}`);
    const h2res = await h2Get(port, HOST, '/after-h2');
    assert.equal(h2res.status, 200, `HTTP/2 after ${what}: ${h2res.body}`);
    assert.equal(JSON.parse(h2res.body).protocol, 'h2', `HTTP/2 reaches the app as h2c: ${h2res.body}`);
  }

  const appRequests = (prefix: string): number => app.paths.filter((p) => p.startsWith(prefix)).length;

  /** Waits until the app has no HTTP/2 stream open beyond `baseline` (every upstream stream was cancelled or ended). */
  async function assertAppStreamsClosed(baseline: number, what: string): Promise<void> {
    const closed = await waitFor(() => app.h2Open() <= baseline, 'the app\'s streams to close', 10_000).then(() => true, () => false);
    assert.ok(closed, `${what}: ${app.h2Open() - baseline} upstream streams still open at the app after 10 s`);
  }

  it('serves HTTP/1.1 and HTTP/2 on both listeners before any attack', async () => {
    await assertServes(caller.outboundPort, 'nothing');
    await assertServes(callee.inboundPort, 'nothing');
  });

  for (const listener of ['outbound', 'inbound'] as const) {
    const portOf = (): number => (listener === 'outbound' ? caller.outboundPort : callee.inboundPort);

    describe(`at the ${listener} listener`, () => {
      it('rapid reset (CVE-2023-44487): 20 000 HEADERS + RST_STREAM pairs on one connection end in GOAWAY; few reach the app, none stays open', async () => {
        const path = `/rr-${listener}`;
        const openBefore = app.h2Open();
        const watch = watchRss();
        const { conn, result } = await rapidReset(portOf(), path, 20_000);
        try {
          // The GOAWAY itself may be lost: a server that closes with our frames still unread resets
          // the connection, and the reset discards what our kernel had not handed over yet.
          const closed = await conn.waitClosed(5000);
          const context = describeFlood('rapid reset', conn, result);
          assert.ok(closed, `the connection is closed: ${context}`);
          await assertAppStreamsClosed(openBefore, 'rapid reset');
          const reached = await settled(() => appRequests(path), 'requests reaching the app');
          // pick: at most 10% of the pairs; node:http2 alone lets ~1 700 of 20 000 through before its GOAWAY.
          assert.ok(reached <= 2000, `${reached} of ${result.sent} reset requests reached the app: ${context}`);
          assertRss(watch, FLOOD_RSS_BOUND_KB, 'rapid reset');
        } finally { conn.destroy(); }
        await assertServes(portOf(), 'rapid reset');
      });

      it('rapid reset of requests whose answers stream: every upstream stream is cancelled and the app stops writing', async () => {
        const path = `/big-rr-${listener}`;
        const openBefore = app.h2Open();
        const writtenBefore = app.bigWritten();
        const watch = watchRss();
        const { conn, result } = await rapidReset(portOf(), path, 5000);
        try {
          assert.ok(await conn.waitClosed(5000), `the connection is closed: ${describeFlood('rapid reset', conn, result)}`);
          await assertAppStreamsClosed(openBefore, 'rapid reset of /big');
          const written = await settled(() => app.bigWritten(), 'the app writing /big answers') - writtenBefore;
          const reached = appRequests(path);
          assert.ok(written <= Math.max(1, reached) * 4 * MiB, `the app wrote ${Math.round(written / MiB)} MiB for ${reached} cancelled streams`);
          assertRss(watch, FLOOD_RSS_BOUND_KB, 'rapid reset of /big');
        } finally { conn.destroy(); }
        await assertServes(portOf(), 'rapid reset of /big');
      });

      for (const fieldPerFrame of [true, false]) {
        it(`CONTINUATION flood (${fieldPerFrame ? 'a header field in each' : 'empty frames'}): HEADERS without END_HEADERS, then up to 100 000 CONTINUATION frames, is cut`, async () => {
          const path = `/cf-${listener}-${fieldPerFrame}`;
          const watch = watchRss();
          const { conn, result } = await continuationFlood(portOf(), path, 100_000, fieldPerFrame);
          try {
            const cut = result.throttled || await conn.waitClosed(5000);
            assert.ok(cut, `the connection is closed or the attacker throttled: ${describeFlood('CONTINUATION flood', conn, result)}`);
            assertRss(watch, FLOOD_RSS_BOUND_KB, 'CONTINUATION flood');
          } finally { conn.destroy(); }
          await assertServes(portOf(), 'a CONTINUATION flood');
          assert.equal(appRequests(path), 0, 'the unfinished request never reaches the app');
        });
      }

      for (const kind of ['SETTINGS', 'PING'] as const) {
        it(`${kind} flood from a client that never reads the ACKs: closed or throttled, memory bounded`, async () => {
          const streamsBefore = app.h2Streams();
          const watch = watchRss();
          const { conn, result } = await controlFlood(portOf(), kind, 200_000);
          try {
            const growthDuring = watch.growthKb();
            // Reading again: what the server sent ends with the connection closed (the ACKs it
            // queued for a client that read nothing were cut), never with 200 000 ACKs.
            conn.resumeReading();
            const cut = result.throttled || await conn.waitClosed(5000);
            const context = describeFlood(`${kind} flood`, conn, result);
            assert.ok(cut, `the connection is closed or the attacker throttled: ${context}`);
            assert.ok(conn.count(kind === 'PING' ? FrameType.PING : FrameType.SETTINGS) < result.sent / 2, `most ACKs were never sent: ${context}`);
            assertRss(watch, FLOOD_RSS_BOUND_KB, `${kind} flood (growth while not reading: ${Math.round(Math.max(growthDuring.caller, growthDuring.callee) / 1024)} MB)`);
          } finally { conn.destroy(); }
          assert.equal(app.h2Streams(), streamsBefore, 'nothing reaches the app');
          await assertServes(portOf(), `a ${kind} flood`);
        });
      }

      // Oversized header lists: the stream is refused (RST_STREAM, or a 431 the sidecar answers
      // itself: told apart from a relayed answer by the app never seeing the request), or the
      // connection is closed. Each case also runs from a client that never ACKs the sidecar's
      // SETTINGS: node:http2 applies its own advertised SETTINGS_MAX_HEADER_LIST_SIZE only once the
      // peer ACKed it, so a listener that relies on that setting alone lets such a client through.
      const OVERSIZED: { name: string; headers: HeaderList }[] = [
        { name: 'one 20 KiB header', headers: [['x-big', 'a'.repeat(20 * KiB)]] },
        { name: '120 headers of 160 bytes (21 KiB, few fields)', headers: manyHeaders(120, 160) },
        { name: '1000 small headers', headers: manyHeaders(1000, 1) },
      ];
      for (const c of OVERSIZED) {
        for (const acked of [true, false]) {
          it(`oversized header list, ${c.name} (${listSize(c.headers)} bytes), ${acked ? 'after ACKing SETTINGS' : 'never ACKing SETTINGS'}: refused, never reaches the app`, async () => {
            assert.ok(listSize(c.headers) > MAX_HEADER_LIST);
            const path = `/oversized-${listener}-${acked}-${c.headers.length}`;
            const conn = await H2Connection.open(portOf(), { ackSettings: acked });
            try {
              if (acked) assert.ok(await conn.waitFor(() => conn.count(FrameType.SETTINGS) >= 2, 2000), `the SETTINGS exchange: ${conn.describe()}`);
              conn.write(requestFrames(1, { authority: HOST, path, headers: c.headers }));
              const answered = await conn.waitFor(() => conn.stream(1)?.reset !== undefined || conn.stream(1)?.ended === true || conn.closed, 5000);
              assert.ok(answered, `the stream is refused or the connection closed: ${conn.describe()}`);
              const reset = conn.stream(1)?.reset;
              if (reset !== undefined) assert.notEqual(reset, ErrorCode.NO_ERROR, `RST_STREAM(${errorName(reset)})`);
            } finally { conn.destroy(); }
            await assertServes(portOf(), 'an oversized header list');
            assert.equal(appRequests(path), 0, `the oversized request never reaches the app (${c.name})`);
          });
        }
      }

      it('oversized header lists, 500 in a row on one connection: each refused, memory bounded, nothing reaches the app', async () => {
        const path = `/oversized-many-${listener}`;
        const headers = manyHeaders(120, 160);
        const watch = watchRss();
        const conn = await H2Connection.open(portOf(), { ackSettings: false });
        try {
          const result = await flood(conn, (i) => requestFrames(2 * i + 1, { authority: HOST, path: `${path}/${i}`, headers }), { count: 500, batch: 10, timeMs: 10_000 });
          const context = describeFlood('oversized header lists', conn, result);
          const last = 2 * (result.sent - 1) + 1;
          await conn.waitFor(() => conn.closed || conn.stream(last)?.reset !== undefined || conn.stream(last)?.ended === true, 5000);
          assert.ok(conn.closed || result.throttled || conn.stream(last) !== undefined, `every stream was answered, or the connection closed: ${context}`);
          assertRss(watch, FLOOD_RSS_BOUND_KB, 'oversized header lists');
        } finally { conn.destroy(); }
        await assertServes(portOf(), 'oversized header lists');
        assert.equal(appRequests(path), 0, 'no oversized request reaches the app');
      });

      it(`more than ${MAX_STREAMS} concurrent streams on one connection are refused`, async () => {
        const path = `/streams-${listener}`;
        const watch = watchRss();
        // A zero window holds every (small) answer at the sidecar, so the client's streams stay open.
        const conn = await H2Connection.open(portOf(), { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
        try {
          assert.ok(await conn.waitFor(() => conn.count(FrameType.SETTINGS) >= 2, 2000), conn.describe());
          const streams = MAX_STREAMS + 200;
          const result = await flood(conn, (i) => requestFrames(2 * i + 1, { authority: HOST, path: `${path}/${i}` }), { count: streams, batch: 50, timeMs: 10_000 });
          const reached = await settled(() => appRequests(path), 'streams reaching the app');
          await conn.waitFor(() => [...conn.streams.values()].filter((s) => s.reset !== undefined).length >= streams - MAX_STREAMS, 2000);
          const refused = [...conn.streams.values()].filter((s) => s.reset !== undefined).length;
          const context = `${describeFlood('streams', conn, result)}; ${reached} reached the app, ${refused} refused`;
          assert.ok(reached <= MAX_STREAMS, `at most ${MAX_STREAMS} streams reach the app: ${context}`);
          assert.ok(conn.closed || refused >= streams - MAX_STREAMS, `the streams past the limit are refused: ${context}`);
          assertRss(watch, FLOOD_RSS_BOUND_KB, `${streams} streams`);
        } finally {
          // Cancels what it opened, as a well-behaved client would (a bare close is tested below).
          conn.write(Buffer.concat([...conn.streams.keys()].map((id) => rstStreamFrame(id))));
          await conn.waitClosed(1000);
          conn.destroy();
        }
        await assertServes(portOf(), 'too many streams');
      });

      it('a stream that never sends WINDOW_UPDATE while the app streams 256 MiB: stalls at the window, memory bounded, cancelled when the client closes its connection', async () => {
        const path = `/big-stall-${listener}`;
        const openBefore = app.h2Open();
        const writtenBefore = app.bigWritten();
        const watch = watchRss();
        const conn = await H2Connection.open(portOf());
        try {
          conn.write(requestFrames(1, { authority: HOST, path }));
          assert.ok(await conn.waitFor(() => (conn.stream(1)?.dataBytes ?? 0) >= 65_535 || conn.closed, 10_000), `the first window of DATA: ${conn.describe()}`);
          const written = await settled(() => app.bigWritten(), 'the app writing into a stalled stream', 1000) - writtenBefore;
          assert.ok(written < STALLED_APP_BYTES_BOUND, `the app wrote ${Math.round(written / MiB)} MiB for a stream whose client window is 64 KiB`);
          assert.ok((conn.stream(1)?.dataBytes ?? 0) <= 65_535, `the sidecar respects the client's window: ${conn.stream(1)?.dataBytes} bytes sent`);
          assertRss(watch, CONNECTION_RSS_BOUND_KB, 'a stalled 256 MiB answer');
        } finally { conn.destroy(); }
        await assertAppStreamsClosed(openBefore, 'the stalled client gone');
        await assertServes(portOf(), 'a stalled stream');
      });

      it('a node:http2 client that drops its connection mid-response (no RST_STREAM, no GOAWAY): the upstream stream is cancelled', async () => {
        const openBefore = app.h2Open();
        const session = h2connect(`http://127.0.0.1:${portOf()}`);
        session.on('error', () => { /* destroyed below */ });
        try {
          const req = session.request({ [h2.HTTP2_HEADER_PATH]: `/big-dropped-${listener}`, [h2.HTTP2_HEADER_AUTHORITY]: HOST });
          req.on('error', () => { /* destroyed below */ });
          let received = 0;
          req.on('data', (d: Buffer) => { received += d.length; });
          await waitFor(() => received > 4 * MiB, 'the first MiBs of the answer');
        } finally {
          // Closes the TCP connection cleanly (FIN): a crashed or timed-out client looks like this.
          session.destroy();
        }
        await assertAppStreamsClosed(openBefore, 'the client gone');
        await assertServes(portOf(), 'a dropped connection');
      });

      it('a client that stops reading its socket at all (windows wide open) while the app streams 256 MiB: memory bounded', async () => {
        const path = `/big-deaf-${listener}`;
        const openBefore = app.h2Open();
        const writtenBefore = app.bigWritten();
        const watch = watchRss();
        const conn = await H2Connection.open(portOf(), { settings: [[Setting.INITIAL_WINDOW_SIZE, 0x7fffffff]] });
        try {
          conn.write(Buffer.concat([windowUpdateFrame(0, 0x7fffffff - 65_535), requestFrames(1, { authority: HOST, path })]));
          assert.ok(await conn.waitFor(() => (conn.stream(1)?.dataBytes ?? 0) > 0, 10_000), `DATA flows: ${conn.describe()}`);
          conn.pauseReading();
          const written = await settled(() => app.bigWritten(), 'the app writing to a client that reads nothing', 1000) - writtenBefore;
          assert.ok(written < STALLED_APP_BYTES_BOUND, `the app wrote ${Math.round(written / MiB)} MiB to a client that stopped reading`);
          assertRss(watch, CONNECTION_RSS_BOUND_KB, 'a 256 MiB answer nobody reads');
        } finally { conn.destroy(); }
        await assertAppStreamsClosed(openBefore, 'the deaf client gone');
        await assertServes(portOf(), 'a client that stopped reading');
      });

      it('a zero initial window (SETTINGS_INITIAL_WINDOW_SIZE=0): the answer waits for WINDOW_UPDATE, then completes', async () => {
        const conn = await H2Connection.open(portOf(), { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
        try {
          assert.ok(await conn.waitFor(() => conn.count(FrameType.SETTINGS) >= 2, 2000), conn.describe());
          conn.write(requestFrames(1, { authority: HOST, path: `/zero-${listener}` }));
          assert.ok(await conn.waitFor(() => (conn.stream(1)?.headers ?? 0) > 0, 5000), `the response head arrives: ${conn.describe()}`);
          assert.equal(await conn.waitFor(() => (conn.stream(1)?.dataBytes ?? 0) > 0, 300), false, `no DATA into a zero window: ${conn.describe()}`);
          conn.write(windowUpdateFrame(1, 1 * MiB));
          assert.ok(await conn.waitFor(() => conn.stream(1)?.ended === true, 5000), `the answer completes: ${conn.describe()}`);
          assert.ok((conn.stream(1)?.dataBytes ?? 0) > 0);
        } finally { conn.destroy(); }
      });

      it(`a zero initial window on ${MAX_STREAMS} streams of 256 MiB each (one connection): the sidecars' memory stays under ${CONNECTION_RSS_BOUND_KB / 1024} MB, cancelled when the client goes`, async () => {
        const path = `/big-zero-${listener}`;
        const openBefore = app.h2Open();
        const writtenBefore = app.bigWritten();
        const watch = watchRss();
        const conn = await H2Connection.open(portOf(), { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
        try {
          assert.ok(await conn.waitFor(() => conn.count(FrameType.SETTINGS) >= 2, 2000), conn.describe());
          const result = await flood(conn, (i) => requestFrames(2 * i + 1, { authority: HOST, path: `${path}/${i}` }), { count: MAX_STREAMS, batch: 50, timeMs: 5000 });
          await waitFor(() => appRequests(path) === MAX_STREAMS || conn.closed, `${MAX_STREAMS} streams at the app (${appRequests(path)})`, 10_000);
          const written = await settled(() => app.bigWritten(), `the app writing into ${MAX_STREAMS} zero windows`, 1000, 30_000) - writtenBefore;
          const growth = watch.growthKb();
          const context = `the app wrote ${Math.round(written / MiB)} MiB; RSS grew by ${Math.round(growth.caller / 1024)} MB (caller), ${Math.round(growth.callee / 1024)} MB (callee); ${describeFlood('streams', conn, result)}`;
          const leaked = [...conn.streams.values()].reduce((sum, s) => sum + s.dataBytes, 0);
          assert.equal(leaked, 0, `no DATA into zero windows: ${context}`);
          assertRss(watch, CONNECTION_RSS_BOUND_KB, `${MAX_STREAMS} zero-window streams (${context})`);
          assert.ok(written < 2 * CONNECTION_RSS_BOUND_KB * KiB, `what the app could write is bounded per connection, not per stream: ${context}`);
        } finally { conn.destroy(); }
        await assertAppStreamsClosed(openBefore, 'the zero-window client gone');
        await assertServes(portOf(), `${MAX_STREAMS} zero-window streams`);
      });

      // Last: a sidecar that fails it keeps the route's concurrency slots taken for minutes.
      it('clients that close their connections (FIN) while zero windows hold 2 100 answers: every abandoned request is over at once, and others are served', async () => {
        // Each request holds the route's concurrency slot (1024 in flight by default) until it is over.
        const sidecar = listener === 'outbound' ? caller : callee;
        const abandoned = async (): Promise<number> => sidecar.metric('petrel_requests_total', { direction: listener, flags: 'DC' });
        const before = await abandoned();
        const path = `/held-${listener}`;
        let held = 0;
        // 2 100 streams in all, more than the route's 1024 in flight and 1024 queued, spread over as
        // many connections as the stream limit needs.
        const perConnection = Math.min(700, MAX_STREAMS);
        for (let k = 0; k < Math.ceil(2100 / perConnection); k++) {
          const conn = await H2Connection.open(portOf(), { settings: [[Setting.INITIAL_WINDOW_SIZE, 0]] });
          try {
            assert.ok(await conn.waitFor(() => conn.count(FrameType.SETTINGS) >= 2, 2000), conn.describe());
            await flood(conn, (i) => requestFrames(2 * i + 1, { authority: HOST, path: `${path}/${k}/${i}` }), { count: perConnection, batch: 50, timeMs: 5000 });
            const answered = await conn.waitFor(() => conn.count(FrameType.HEADERS) + conn.count(FrameType.RST_STREAM) >= perConnection, 5000);
            assert.ok(answered, `connection ${k}: every stream gets its response head (held by the zero window) or is refused: ${conn.describe()}`);
            held += conn.count(FrameType.HEADERS);
          } finally {
            conn.destroy(); // a clean close: FIN, no RST_STREAM, no GOAWAY
          }
        }
        const ended = await waitFor(async () => (await abandoned()) - before >= held, 'the abandoned requests to end', 5000).then(() => true, () => false);
        assert.ok(ended, `of ${held} abandoned requests, ${(await abandoned()) - before} ended within 5 s (petrel_requests_total flags="DC")`);
        await assertServes(portOf(), 'abandoned held streams');
      });
    });
  }

  it('oversized header lists sent to the outbound listener are the client\'s fault: the destination\'s breaker stays closed', async () => {
    // A malformed request is answered by the sidecar that received it and never counts against an
    // endpoint (DESIGN.md): forwarded, the callee's refusal would look like the endpoint failing.
    const guarded = await startSidecar({
      service: 'web-breaker',
      config: snapshot(1, [{ name: HOST, endpoints: [`127.0.0.1:${callee.inboundPort}`], policy: { circuitBreaker: { consecutiveFailures: 3 } } }]),
    });
    const path = '/oversized-breaker';
    try {
      for (const acked of [true, false]) {
        const conn = await H2Connection.open(guarded.outboundPort, { ackSettings: acked });
        try {
          if (acked) assert.ok(await conn.waitFor(() => conn.count(FrameType.SETTINGS) >= 2, 2000), conn.describe());
          await flood(conn, (i) => requestFrames(2 * i + 1, { authority: HOST, path: `${path}/${acked}/${i}`, headers: manyHeaders(120, 160) }), { count: 50, batch: 10, timeMs: 5000 });
          const done = (): number => [...conn.streams.values()].filter((st) => st.reset !== undefined || st.ended).length;
          assert.ok(await conn.waitFor(() => conn.closed || done() >= 50, 5000), `each oversized request is refused or answered: ${conn.describe()}`);
        } finally { conn.destroy(); }
      }
      assert.equal(await guarded.metric('petrel_circuit_transitions_total', { peer_service: HOST, to: 'open' }), 0,
        `the breaker never opened; flags recorded: ${(await guarded.metrics()).split('\n').filter((l) => l.startsWith('petrel_requests_total')).join('; ')}`);
      assert.equal(appRequests(path), 0, `no oversized request reaches the app: ${appRequests(path)} did`);
      const reply = await call(guarded.outboundPort, { path: '/after-oversized', headers: { host: HOST } });
      assert.equal(reply.status, 200, reply.body);
    } finally {
      await guarded.stop('SIGKILL');
    }
  });

  it('neither sidecar crashed or logged an unhandled error', () => {
    for (const [name, s] of [['caller', caller], ['callee', callee]] as const) {
      assert.equal(s.proc.exitCode, null, `${name} exited: ${s.output().slice(-2000)}`);
      assert.doesNotMatch(s.output(), /Unhandled|uncaught|FATAL ERROR|heap out of memory/i, `${name}: ${s.output().slice(-2000)}`);
    }
  });
});
