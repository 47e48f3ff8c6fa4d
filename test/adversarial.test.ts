// Adversarial clients against real sidecars on loopback. An upstream "app" records every request
// and every raw byte it receives; a callee sidecar (service "payments") sits in front of it, and a
// caller sidecar whose snapshot lists payments sends to the callee. Exact bytes go to the caller's
// outbound listener and to the callee's inbound listener, and every case asserts what reaches the
// app: nothing at all when the input is bad. Each case is one row of a table; every wait is bounded.
//
// Where DESIGN.md and the brief do not say what the target is, the choice is what Envoy or nginx
// would do, and a comment says so ("pick:").
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call } from './harness/client.ts';
import { snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { RawConnection, rawSend, type RawResponse, type RawResult } from './harness/raw-http.ts';
import { startRecordingApp, type RecordingApp } from './harness/recording-app.ts';
import { waitFor } from './harness/wait.ts';

const HOST = 'payments';
const HEADER_TIMEOUT_MS = 500;
const MAX_HEADER_SIZE = 16384;

// ---------------------------------------------------------------------------------------------
// Byte builders
const SMUGGLED = `GET /smuggled HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`;

function request(method: string, target: string, headers: string[], body = '', version = 'HTTP/1.1'): string {
  return `${method} ${target} ${version}\r\nHost: ${HOST}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
}
const post = (headers: string[], body = '', version = 'HTTP/1.1'): string => request('POST', '/smug', headers, body, version);

/** CL.TE: by Content-Length the body is everything; by chunked, a second request follows. */
function clte(teLine: string, method = 'POST'): string {
  const body = `0\r\n\r\n${SMUGGLED}`;
  return request(method, '/smug', [`Content-Length: ${body.length}`, teLine], body);
}

/** TE.CL: by chunked the body is the smuggled request; by Content-Length (4) it is a second request. */
function tecl(teLine: string): string {
  const body = `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`;
  return request('POST', '/smug', [teLine, 'Content-Length: 4'], body);
}

const HELLO_CHUNKED = '5\r\nhello\r\n0\r\n\r\n';

interface SmugglingCase {
  name: string;
  bytes: string;
  /** The status of the sidecar's last answer (400 DPE unless said). */
  status?: 400 | 408 | 431;
  /** Paths that may reach the app, in order: only requests fully and unambiguously valid. */
  reaches?: string[];
}

// ---------------------------------------------------------------------------------------------
// 1. Request smuggling and malformed framing (modelled on defparam/smuggler and http-garden).
const SMUGGLING: SmugglingCase[] = [
  // CL.TE / TE.CL
  { name: 'CL.TE', bytes: clte('Transfer-Encoding: chunked') },
  { name: 'TE.CL', bytes: tecl('Transfer-Encoding: chunked') },
  { name: 'CL.TE on a GET', bytes: clte('Transfer-Encoding: chunked', 'GET') },
  { name: 'CL.TE with Content-Length: 0', bytes: request('POST', '/smug', ['Content-Length: 0', 'Transfer-Encoding: chunked'], HELLO_CHUNKED) },
  // TE.TE: obfuscated Transfer-Encoding, next to a Content-Length
  { name: 'CL.TE, TE: xchunked', bytes: clte('Transfer-Encoding: xchunked') },
  { name: 'TE.CL, TE: xchunked', bytes: tecl('Transfer-Encoding: xchunked') },
  { name: 'CL.TE, TE value with two leading spaces', bytes: clte('Transfer-Encoding:  chunked') },
  { name: 'CL.TE, TE value after a tab', bytes: clte('Transfer-Encoding:\tchunked') },
  { name: 'TE.CL, TE value after a tab', bytes: tecl('Transfer-Encoding:\tchunked') },
  { name: 'CL.TE, space before the colon', bytes: clte('Transfer-Encoding : chunked') },
  { name: 'TE.CL, space before the colon', bytes: tecl('Transfer-Encoding : chunked') },
  { name: 'CL.TE, TE: chunked, identity', bytes: clte('Transfer-Encoding: chunked, identity') },
  { name: 'CL.TE, TE line folded into the previous header', bytes: clte('X-Pad: a\r\n Transfer-Encoding: chunked') },
  { name: 'CL.TE, TE value on a folded line', bytes: clte('Transfer-Encoding:\r\n chunked') },
  { name: 'CL.TE, TE: CHUNKED', bytes: clte('Transfer-Encoding: CHUNKED') },
  { name: 'CL.TE, TE value after a vertical tab', bytes: clte('Transfer-Encoding:\x0bchunked') },
  { name: 'CL.TE, TE: "chunked" quoted', bytes: clte('Transfer-Encoding: "chunked"') },
  { name: 'CL.TE, TE value ending in NUL', bytes: clte('Transfer-Encoding: chunked\x00') },
  { name: 'CL.TE, TE value ending in a bare CR', bytes: clte('Transfer-Encoding: chunked\rX: y') },
  // TE alone, but not exactly one "chunked"
  { name: 'TE: chunked twice (two headers)', bytes: post(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], HELLO_CHUNKED) },
  { name: 'TE: chunked, chunked (one header)', bytes: post(['Transfer-Encoding: chunked, chunked'], HELLO_CHUNKED) },
  { name: 'TE: chunked then TE: identity', bytes: post(['Transfer-Encoding: chunked', 'Transfer-Encoding: identity'], HELLO_CHUNKED) },
  { name: 'TE: xchunked alone', bytes: post(['Transfer-Encoding: xchunked'], HELLO_CHUNKED) },
  { name: 'TE: chunk (truncated word)', bytes: post(['Transfer-Encoding: chunk'], HELLO_CHUNKED) },
  // pick: a coding other than a single "chunked" is refused (nginx and Envoy answer 501; the contract maps it to DPE 400).
  { name: 'TE: identity, chunked', bytes: post(['Transfer-Encoding: identity, chunked'], HELLO_CHUNKED) },
  { name: 'TE: gzip, chunked', bytes: post(['Transfer-Encoding: gzip, chunked'], HELLO_CHUNKED) },
  // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 request is faulty framing.
  { name: 'TE: chunked in HTTP/1.0', bytes: post(['Transfer-Encoding: chunked'], HELLO_CHUNKED, 'HTTP/1.0') },
  { name: 'CL.TE in HTTP/1.0', bytes: post([`Content-Length: ${HELLO_CHUNKED.length}`, 'Transfer-Encoding: chunked'], HELLO_CHUNKED, 'HTTP/1.0') },
  // Content-Length
  { name: 'CL.CL, two values', bytes: post(['Content-Length: 5', 'Content-Length: 6'], 'hello!') },
  { name: 'CL.CL, the same value twice', bytes: post(['Content-Length: 5', 'Content-Length: 5'], 'hello') },
  { name: 'Content-Length: 5, 5', bytes: post(['Content-Length: 5, 5'], 'hello') },
  { name: 'Content-Length: 5, 6', bytes: post(['Content-Length: 5, 6'], 'hello!') },
  { name: 'Content-Length: +5', bytes: post(['Content-Length: +5'], 'hello') },
  { name: 'Content-Length: -1', bytes: post(['Content-Length: -1'], 'hello') },
  { name: 'Content-Length: 0x5', bytes: post(['Content-Length: 0x5'], 'hello') },
  { name: 'Content-Length: 5.0', bytes: post(['Content-Length: 5.0'], 'hello') },
  { name: 'Content-Length: 1_0', bytes: post(['Content-Length: 1_0'], 'hellohello') },
  { name: 'Content-Length: 5 5', bytes: post(['Content-Length: 5 5'], 'hello') },
  { name: 'Content-Length: (empty)', bytes: post(['Content-Length: '], 'hello') },
  { name: 'Content-Length over 2^64', bytes: post(['Content-Length: 99999999999999999999999'], 'hello') },
  { name: 'Content-Length after a vertical tab', bytes: post(['Content-Length:\x0b5'], 'hello') },
  { name: 'Content-Length with a NUL', bytes: post(['Content-Length: 5\x00'], 'hello') },
  // chunk framing
  { name: 'chunk size zz', bytes: post(['Transfer-Encoding: chunked'], 'zz\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size 0x5', bytes: post(['Transfer-Encoding: chunked'], '0x5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size +5', bytes: post(['Transfer-Encoding: chunked'], '+5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size -1', bytes: post(['Transfer-Encoding: chunked'], '-1\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size over 2^64', bytes: post(['Transfer-Encoding: chunked'], '1ffffffffffffffff\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size with a leading space', bytes: post(['Transfer-Encoding: chunked'], ' 5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size with a trailing space', bytes: post(['Transfer-Encoding: chunked'], '5 \r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk extension ended by a bare LF', bytes: post(['Transfer-Encoding: chunked'], '5;a=b\nhello\r\n0\r\n\r\n') },
  { name: 'chunk extension with a NUL', bytes: post(['Transfer-Encoding: chunked'], '5;a\x00b\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunked body with bare LF line ends', bytes: post(['Transfer-Encoding: chunked'], '5\nhello\n0\n\n') },
  { name: 'chunk data longer than its size', bytes: post(['Transfer-Encoding: chunked'], '3\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk data not followed by CRLF', bytes: post(['Transfer-Encoding: chunked'], `5\r\nhello${SMUGGLED}0\r\n\r\n`) },
  // the head
  { name: 'bare LF line ends in the head', bytes: `GET /lf HTTP/1.1\nHost: ${HOST}\n\n` },
  { name: 'bare LF after one header', bytes: `GET /lf HTTP/1.1\r\nHost: ${HOST}\nX-A: b\r\n\r\n` },
  { name: 'bare CR inside a header value', bytes: request('GET', '/cr', ['X-A: a\rb']) },
  { name: 'NUL in a header value', bytes: request('GET', '/nul', ['X-A: a\x00b']) },
  { name: 'NUL in a header name', bytes: request('GET', '/nul', ['X-\x00A: b']) },
  { name: 'DEL in a header value', bytes: request('GET', '/del', ['X-A: a\x7fb']) },
  { name: 'space inside a header name', bytes: request('GET', '/sp', ['X A: b']) },
  { name: 'empty header name', bytes: request('GET', '/empty', [': b']) },
  { name: 'header line without a colon', bytes: request('GET', '/nocolon', ['X-A b']) },
  // pick: RFC 9112 §5.2 lets a proxy reject obs-fold or replace it with SP; the contract lists it as DPE, so reject.
  { name: 'obs-fold in an ordinary header', bytes: request('GET', '/fold', ['X-A: a', ' b']) },
  // the request line
  { name: 'space inside the target', bytes: `GET /a b HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  // Not here: `GET  /a` (two spaces). RFC 9112 §3 lets a recipient parse the request line on
  // whitespace boundaries, and the sidecar writes a fresh, single-spaced request line upstream, so
  // no parser behind it can read the request differently.
  { name: 'space after the version', bytes: `GET /a HTTP/1.1 \r\nHost: ${HOST}\r\n\r\n` },
  { name: 'tab instead of the space', bytes: `GET\t/a HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'HTTP/0.9 simple request', bytes: 'GET /a\r\n\r\n' },
  { name: 'version HTTP/1.1x', bytes: `GET /a HTTP/1.1x\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'version HTTP/1.10', bytes: `GET /a HTTP/1.10\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'absolute URI split by a space', bytes: `GET http://${HOST} /a HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'NUL in the target', bytes: `GET /a\x00b HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  // sizes
  { name: 'one header over the size limit', bytes: request('GET', '/big-head', [`X-Big: ${'a'.repeat(MAX_HEADER_SIZE + 100)}`]), status: 431 },
  // pick: Node keeps only the first 2000 headers and drops the rest silently; Envoy answers 431 past
  // its header count limit. A Transfer-Encoding past the cut frames the body yet vanishes from the
  // headers a proxy forwards, so too many headers must be refused.
  { name: '2100 headers (under the size limit)', bytes: request('GET', '/many', Array.from({ length: 2100 }, () => 'a:1')), status: 431 },
  { name: '2100 headers, then Transfer-Encoding: chunked', bytes: post([...Array.from({ length: 2100 }, () => 'a:1'), 'Transfer-Encoding: chunked'], HELLO_CHUNKED), status: 431 },
  // pipelines: the valid first request is served, the bad second one refused
  { name: 'valid GET, then CL.CL', bytes: request('GET', '/first', []) + post(['Content-Length: 1', 'Content-Length: 2'], 'ab'), reaches: ['/first'] },
  { name: 'Content-Length body, then garbage', bytes: post(['Content-Length: 5'], 'helloGARBAGE\r\n\r\n').replace('/smug', '/first'), reaches: ['/first'] },
  { name: 'valid chunked POST, then TE: xchunked', bytes: post(['Transfer-Encoding: chunked'], HELLO_CHUNKED).replace('/smug', '/first') + post(['Transfer-Encoding: xchunked'], HELLO_CHUNKED), reaches: ['/first'] },
];

// ---------------------------------------------------------------------------------------------
// 2. Loopback spellings: each names this sidecar itself; passthrough must refuse them.
const LOOPBACK_SPELLINGS = ['0x7f000001', '2130706433', '0177.0.0.1', '127.1', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]',
  '127.0.0.1', 'localhost', '0.0.0.0', '[::1]', '[::]'];
const WORST_SPELLINGS = ['0x7f000001', '2130706433', '[::ffff:127.0.0.1]', '127.1'];

// ---------------------------------------------------------------------------------------------
// 4. Malformed targets and headers: 400 DPE from the sidecar that received them, never a breaker.
interface TargetCase { name: string; bytes: string }
const BAD_TARGETS: TargetCase[] = [
  { name: 'two Host headers, same value', bytes: `GET /dup HTTP/1.1\r\nHost: ${HOST}\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'two Host headers, different values', bytes: `GET /dup HTTP/1.1\r\nHost: ${HOST}\r\nHost: evil.example\r\n\r\n` },
  { name: 'OPTIONS *', bytes: `OPTIONS * HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'GET foo (no leading slash)', bytes: `GET foo HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'authority-form on GET', bytes: `GET ${HOST}:80 HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'userinfo in the absolute URI', bytes: `GET http://user@${HOST}/u HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'user:password in the absolute URI', bytes: `GET http://user:pw@${HOST}/u HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'fragment in the target', bytes: `GET /frag#x HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'fragment in an absolute URI', bytes: `GET http://${HOST}/frag#x HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'https scheme', bytes: `GET https://${HOST}/s HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  { name: 'ftp scheme', bytes: `GET ftp://${HOST}/s HTTP/1.1\r\nHost: ${HOST}\r\n\r\n` },
  // pick: a Host that is not uri-host[:port] (RFC 9110 §7.2) is malformed, not "no route".
  { name: 'userinfo in Host', bytes: `GET /h HTTP/1.1\r\nHost: user@${HOST}\r\n\r\n` },
  { name: 'Host port out of range', bytes: `GET /h HTTP/1.1\r\nHost: ${HOST}:99999\r\n\r\n` },
  { name: 'Host port not a number', bytes: `GET /h HTTP/1.1\r\nHost: ${HOST}:abc\r\n\r\n` },
];

// ---------------------------------------------------------------------------------------------
// 6. Deadlines from the caller, sent straight to the inbound listener; the app answers in ~20 ms.
const DEADLINES: { value: string; status: 200 | 504 }[] = [
  { value: '2147483648', status: 200 }, // just past setTimeout's 2^31-1 ms: must clamp, not fire at once
  { value: '99999999999', status: 200 },
  { value: '1e400', status: 200 },       // Infinity: garbage, ignored
  { value: '-5', status: 200 },          // negative: garbage, ignored
  { value: 'abc', status: 200 },
  { value: '0', status: 504 },           // spent: 504 UT at once, nothing reaches the app
];

// ---------------------------------------------------------------------------------------------

function describeRaw(result: RawResult): string {
  return `${result.closed ? 'closed' : 'left open'} after ${result.ms} ms; got ${JSON.stringify(result.raw.slice(0, 300))}`;
}

function assertLocal(response: RawResponse | undefined, status: number, flag: string, context: string): void {
  assert.ok(response, `no response: ${context}`);
  assert.equal(response.status, status, context);
  assert.equal(response.headers['petrel-error'], flag, context);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('adversarial clients', () => {
  let app: RecordingApp;
  let callee: SidecarHandle;   // payments, in front of the app
  let limited: SidecarHandle;  // payments too, with an inbound rate limit of 1/s
  let caller: SidecarHandle;   // web: payments in its snapshot, breaker after 3 failures
  let looper: SidecarHandle;   // web-loop: for the loopback spellings, with the app as its own --app
  let guarded: SidecarHandle;  // web-breaker: payments with a breaker after 3 failures, only for the breaker test

  const listenerArgs = ['--header-timeout', `${HEADER_TIMEOUT_MS}ms`, '--max-header-size', String(MAX_HEADER_SIZE)];

  before(async () => {
    app = await startRecordingApp();
    callee = await startSidecar({ service: HOST, app: app.address, config: snapshot(1, []), args: listenerArgs });
    limited = await startSidecar({
      service: HOST, app: app.address, args: listenerArgs,
      config: snapshot(1, [], { inbound: { policy: { rateLimit: { requestsPerSecond: 1, burst: 1 } } } }),
    });
    caller = await startSidecar({
      service: 'web', args: listenerArgs,
      config: snapshot(1, [{ name: HOST, endpoints: [`127.0.0.1:${callee.inboundPort}`], policy: { circuitBreaker: { consecutiveFailures: 3 } } }]),
    });
    looper = await startSidecar({
      service: 'web-loop', app: app.address, args: [...listenerArgs, '--max-connections', '512'],
      config: snapshot(1, [{ name: HOST, endpoints: [`127.0.0.1:${callee.inboundPort}`] }]),
    });
    guarded = await startSidecar({
      service: 'web-breaker', args: listenerArgs,
      config: snapshot(1, [{ name: HOST, endpoints: [`127.0.0.1:${callee.inboundPort}`], policy: { circuitBreaker: { consecutiveFailures: 3 } } }]),
    });
  });

  after(async () => {
    await Promise.all([caller, callee, limited, looper, guarded].map((s) => s?.stop('SIGKILL')));
    await app?.close();
  });

  /** Runs `fn`, then reports which requests and how many raw bytes reached the app meanwhile. */
  async function watchApp<T>(fn: () => Promise<T>, settleMs = 150): Promise<{ result: T; paths: string[]; bytes: number }> {
    const requestsBefore = app.requests.length;
    const bytesBefore = app.bytesIn();
    const result = await fn();
    await sleep(settleMs);
    return { result, paths: app.requests.slice(requestsBefore).map((r) => r.url), bytes: app.bytesIn() - bytesBefore };
  }

  async function assertServesOn(port: number, what: string): Promise<void> {
    const reply = await call(port, { path: '/after', headers: { host: HOST } });
    assert.equal(reply.status, 200, `a normal request after ${what}: ${reply.body}`);
  }

  // 1 -----------------------------------------------------------------------------------------
  for (const listener of ['outbound', 'inbound'] as const) {
    describe(`request smuggling and malformed framing, at the ${listener} listener`, () => {
      for (const c of SMUGGLING) {
        it(c.name, async () => {
          const port = listener === 'outbound' ? caller.outboundPort : callee.inboundPort;
          const reaches = c.reaches ?? [];
          const status = c.status ?? 400;
          const { result, paths, bytes } = await watchApp(() => rawSend(port, c.bytes, { waitMs: 2000 }));
          const context = `${c.name}: ${describeRaw(result)}`;
          // pick: for a pipeline (valid requests, then a bad one) the sidecar may either answer the
          // valid ones first (nginx) or refuse at once without forwarding them; what it must not do
          // is forward a request whose answer the client never gets (it would retry: twice executed).
          assert.ok(result.responses.length === 1 || result.responses.length === reaches.length + 1,
            `the refusal, optionally preceded by one answer per valid request; ${context}`);
          result.responses.slice(0, -1).forEach((r) => assert.equal(r.status, 200, context));
          assertLocal(result.responses.at(-1), status, 'DPE', context);
          assert.ok(result.closed, `the connection is closed; ${context}`);
          const answered = result.responses.length - 1;
          assert.deepEqual(paths, reaches.slice(0, answered), `what reached the app (only valid requests whose answer the client got); ${context}`);
          if (answered === 0) assert.equal(bytes, 0, `no byte reaches the app; ${context}`);
          await assertServesOn(port, c.name);
        });
      }
    });
  }

  // 2 -----------------------------------------------------------------------------------------
  describe('loopback spellings of the sidecar itself, sent to the outbound listener', () => {
    let rssBeforeKb = 0;
    before(() => { rssBeforeKb = looper.rssKb(); });

    for (const portName of ['inbound', 'admin', 'outbound'] as const) {
      it(`CONNECT 0x7f000001 and 127.0.0.1 to the sidecar's own ${portName} port: 404 NR, no tunnel`, async () => {
        const port = { outbound: looper.outboundPort, inbound: looper.inboundPort, admin: looper.adminPort }[portName];
        for (const host of ['127.0.0.1', '0x7f000001']) {
          const result = await rawSend(looper.outboundPort, `CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`, { waitMs: 1500, stopAfterResponses: 1 });
          assertLocal(result.responses[0], 404, 'NR', `CONNECT ${host}:${port}: ${describeRaw(result)}`);
        }
      });
    }

    let n = 0;
    for (const spelling of LOOPBACK_SPELLINGS) {
      for (const portName of ['outbound', 'inbound', 'admin'] as const) {
        for (const form of ['absolute-form', 'origin-form'] as const) {
          const tag = ++n;
          it(`${spelling} :${portName} (${form})`, async () => {
            const port = { outbound: looper.outboundPort, inbound: looper.inboundPort, admin: looper.adminPort }[portName];
            const authority = `${spelling}:${port}`;
            const path = `/loop-${tag}`;
            const bytes = form === 'absolute-form'
              ? `GET http://${authority}${path} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`
              : `GET ${path} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`;
            const { result, paths } = await watchApp(() => rawSend(looper.outboundPort, bytes, { waitMs: 1500, stopAfterResponses: 1 }));
            const context = `${authority} ${form}: ${describeRaw(result)}`;
            assertLocal(result.responses[0], 404, 'NR', context);
            assert.ok(result.ms < 1000, `answered fast (no forwarding loop); ${context}`);
            assert.deepEqual(paths.filter((p) => p === path), [], `nothing reaches the app; ${context}`);
            assert.equal(looper.proc.exitCode, null, 'the sidecar is alive');
          });
        }
      }
    }

    it('4 of the worst in parallel: the sidecar stays alive, /live answers, RSS stays bounded', async () => {
      const results = await Promise.all(WORST_SPELLINGS.map((s, i) =>
        rawSend(looper.outboundPort, `GET http://${s}:${looper.outboundPort}/par-${i} HTTP/1.1\r\nHost: ${s}:${looper.outboundPort}\r\n\r\n`, { waitMs: 3000, stopAfterResponses: 1 })));
      await sleep(500);
      assert.equal(looper.proc.exitCode, null, 'the sidecar is alive');
      assert.equal((await looper.admin('/live')).status, 200);
      const growthMb = (looper.rssKb() - rssBeforeKb) / 1024;
      assert.ok(growthMb < 64, `RSS grew ${growthMb.toFixed(1)} MB over the loopback cases`);
      results.forEach((r, i) => assertLocal(r.responses[0], 404, 'NR', `${WORST_SPELLINGS[i]}: ${describeRaw(r)}`));
    });

    it('after all of them the sidecar still serves: no connection slots held by a self-loop', async () => {
      const result = await rawSend(looper.outboundPort, `GET /serves-on HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`, { waitMs: 3000, stopAfterResponses: 1 });
      const dropped = await looper.metric('petrel_listener_connections_dropped_total', { listener: 'outbound' });
      assert.equal(result.responses[0]?.status, 200, `${describeRaw(result)}; outbound connections dropped so far: ${dropped}; open fds: ${looper.fdCount()}`);
    });

    it('a request carrying x-petrel-hops: 9 is a loop: 508 NR, never reaches the app', async () => {
      const { result, paths, bytes } = await watchApp(() =>
        rawSend(looper.outboundPort, `GET /hops HTTP/1.1\r\nHost: ${HOST}\r\nx-petrel-hops: 9\r\n\r\n`, { waitMs: 2000, stopAfterResponses: 1 }));
      assertLocal(result.responses[0], 508, 'NR', describeRaw(result));
      assert.deepEqual(paths, []);
      assert.equal(bytes, 0);
    });
  });

  // 3 -----------------------------------------------------------------------------------------
  describe('refused upgrades', () => {
    for (const listener of ['outbound', 'inbound'] as const) {
      const port = (): number => (listener === 'outbound' ? caller.outboundPort : callee.inboundPort);
      const upgrade = (path: string, protocol = 'foo'): string =>
        `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n\r\n`;

      it(`${listener}: the app's 200 is an ordinary response and the next request on the connection is HTTP through the pipeline`, async () => {
        const conn = await RawConnection.open(port());
        try {
          conn.write(upgrade(`/refuse-${listener}-1`));
          const first = await conn.readResponse(3000);
          assert.equal(first?.status, 200, `the app's answer: ${JSON.stringify(conn.pending.slice(0, 200))}`);
          conn.write(`GET /second-${listener} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
          const second = await conn.readResponse(3000);
          assert.equal(second?.status, 200, `the second request is answered: ${JSON.stringify(conn.pending.slice(0, 200))}`);
          const reached = app.requests.find((r) => r.url === `/second-${listener}`);
          assert.ok(reached, 'the second request reached the app');
          // Proof it went through the sidecar's pipeline rather than a raw tunnel: header hygiene ran.
          assert.ok(reached.headers['x-forwarded-for'], `x-forwarded-for set by the sidecar; the app saw ${JSON.stringify(reached.headers)}`);
          assert.ok(reached.headers['x-request-id'], 'x-request-id set by the sidecar');
          assert.equal(reached.headers.upgrade, undefined);
        } finally {
          conn.destroy();
        }
      });

      it(`${listener}: a second request pipelined behind the refused upgrade (same write) is HTTP too`, async () => {
        const conn = await RawConnection.open(port());
        try {
          conn.write(upgrade(`/refuse-${listener}-2`) + `GET /pipelined-${listener} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
          const first = await conn.readResponse(3000);
          const second = await conn.readResponse(3000);
          assert.equal(first?.status, 200);
          assert.equal(second?.status, 200, `second answer: ${JSON.stringify(conn.pending.slice(0, 200))}`);
          const reached = app.requests.find((r) => r.url === `/pipelined-${listener}`);
          assert.ok(reached?.headers['x-forwarded-for'], `went through the pipeline: ${JSON.stringify(reached?.headers)}`);
        } finally {
          conn.destroy();
        }
      });

      it(`${listener}: a smuggled-looking request after the refused upgrade is still refused 400 DPE`, async () => {
        const conn = await RawConnection.open(port());
        try {
          conn.write(upgrade(`/refuse-${listener}-3`));
          assert.equal((await conn.readResponse(3000))?.status, 200);
          const mark = app.requests.length;
          const bytesMark = app.bytesIn();
          conn.write(clte('Transfer-Encoding: chunked'));
          const refusal = await conn.readResponse(3000);
          assertLocal(refusal, 400, 'DPE', `after a refused upgrade: ${JSON.stringify(conn.pending.slice(0, 200))}`);
          assert.ok(await conn.waitClosed(2000), 'the connection is closed');
          await sleep(150);
          assert.deepEqual(app.requests.slice(mark).map((r) => r.url), [], 'nothing reaches the app');
          assert.equal(app.bytesIn() - bytesMark, 0, 'no byte reaches the app');
        } finally {
          conn.destroy();
        }
      });
    }

    it('inbound rate limit 1/s burst 1: of 10 upgrade requests in a burst, 1 reaches the app and 9 get 429 RL', async () => {
      const path = '/refuse-rl';
      const before = app.requests.filter((r) => r.url === path).length;
      const countedBefore = await limited.metric('petrel_rate_limited_total', { service: HOST });
      const results = await Promise.all(Array.from({ length: 10 }, () => rawSend(limited.inboundPort,
        `GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n`, { waitMs: 3000, stopAfterResponses: 1 })));
      const statuses = results.map((r) => r.responses[0]?.status ?? 0).sort();
      const limitedReplies = results.filter((r) => r.responses[0]?.status === 429 && r.responses[0].headers['petrel-error'] === 'RL');
      await sleep(150);
      assert.equal(app.requests.filter((r) => r.url === path).length - before, 1, `reached the app; statuses ${statuses.join(',')}`);
      assert.equal(limitedReplies.length, 9, `429 RL answers; statuses ${statuses.join(',')}`);
      // The inbound limit counts like the outbound ones (it used to count nowhere).
      assert.equal(await limited.metric('petrel_rate_limited_total', { service: HOST }) - countedBefore, 9);
    });

    it('Upgrade: h2c that the app does not switch is counted as code 200, not 101', async () => {
      const inbound = { direction: 'inbound', code: '101' };
      const [out101, out200, in101, in200] = await Promise.all([
        caller.metric('petrel_requests_total', { direction: 'outbound', peer_service: HOST, code: '101' }),
        caller.metric('petrel_requests_total', { direction: 'outbound', peer_service: HOST, code: '200' }),
        callee.metric('petrel_requests_total', inbound),
        callee.metric('petrel_requests_total', { ...inbound, code: '200' }),
      ]);
      const result = await rawSend(caller.outboundPort,
        `GET /refuse-h2c HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
        { waitMs: 3000, stopAfterResponses: 1 });
      assert.equal(result.responses[0]?.status, 200, describeRaw(result));
      await waitFor(async () => (await callee.metric('petrel_requests_total', { ...inbound, code: '200' })) > in200
        && (await caller.metric('petrel_requests_total', { direction: 'outbound', peer_service: HOST, code: '200' })) > out200,
        'code="200" counted by both sidecars', 3000).catch(() => {});
      assert.equal(await caller.metric('petrel_requests_total', { direction: 'outbound', peer_service: HOST, code: '200' }), out200 + 1, 'caller code="200"');
      assert.equal(await caller.metric('petrel_requests_total', { direction: 'outbound', peer_service: HOST, code: '101' }), out101, 'caller code="101"');
      assert.equal(await callee.metric('petrel_requests_total', { ...inbound, code: '200' }), in200 + 1, 'callee code="200"');
      assert.equal(await callee.metric('petrel_requests_total', inbound), in101, 'callee code="101"');
    });

    it('an app that answers 101 still gets a working tunnel, bytes both ways', async () => {
      const conn = await RawConnection.open(caller.outboundPort);
      try {
        conn.write(`GET /echo HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\n`);
        const switched = await conn.readResponse(3000);
        assert.equal(switched?.status, 101);
        conn.write('hello there');
        assert.ok(await conn.waitFor((p) => p.includes('HELLO THERE'), 3000), `echo: ${JSON.stringify(conn.pending)}`);
        conn.write('again');
        assert.ok(await conn.waitFor((p) => p.includes('AGAIN'), 3000), `echo: ${JSON.stringify(conn.pending)}`);
      } finally {
        conn.destroy();
      }
    });
  });

  // 4 -----------------------------------------------------------------------------------------
  describe('malformed targets and headers: 400 DPE, never a breaker', () => {
    for (const listener of ['outbound', 'inbound'] as const) {
      for (const c of BAD_TARGETS) {
        it(`${listener}: ${c.name}`, async () => {
          const port = listener === 'outbound' ? caller.outboundPort : callee.inboundPort;
          const { result, paths, bytes } = await watchApp(() => rawSend(port, c.bytes, { waitMs: 2000, stopAfterResponses: 1 }));
          const context = `${c.name}: ${describeRaw(result)}`;
          assertLocal(result.responses[0], 400, 'DPE', context);
          assert.deepEqual(paths, [], `nothing reaches the app; ${context}`);
          assert.equal(bytes, 0, `no byte reaches the app; ${context}`);
        });
      }
    }

    it('10 of each through the caller leave the payments breaker closed, and a valid request gets 200', async () => {
      // 10 of the same kind in a row: more than the 3 consecutive failures that would open the breaker.
      for (const c of BAD_TARGETS) {
        for (let i = 0; i < 10; i++) await rawSend(guarded.outboundPort, c.bytes, { waitMs: 2000, stopAfterResponses: 1 });
      }
      const metrics = await guarded.metrics();
      assert.match(metrics, /^petrel_circuit_state\{[^}]*peer_service="payments"/m, 'the endpoint has a breaker series');
      assert.equal(await guarded.metric('petrel_circuit_transitions_total', { peer_service: HOST, to: 'open' }), 0, 'no transition to open');
      assert.equal(await guarded.metric('petrel_circuit_state', { peer_service: HOST }), 0, 'petrel_circuit_state is 0 (closed)');
      const reply = await call(guarded.outboundPort, { path: '/valid', headers: { host: HOST } });
      assert.equal(reply.status, 200, reply.body);
    });
  });

  // 5 -----------------------------------------------------------------------------------------
  describe('slow clients', () => {
    for (const listener of ['outbound', 'inbound'] as const) {
      it(`${listener}: slowloris (head dribbled byte by byte) gets 408 DPE after the header timeout; nothing reaches the app`, async () => {
        const port = listener === 'outbound' ? caller.outboundPort : callee.inboundPort;
        const head = `GET /slowloris HTTP/1.1\r\nHost: ${HOST}\r\nX-Pad: ${'a'.repeat(100)}\r\n\r\n`;
        const { result, paths, bytes } = await watchApp(() => rawSend(port, head, { waitMs: 4000, pieceSize: 1, gapMs: 40 }));
        const context = describeRaw(result);
        assertLocal(result.responses[0], 408, 'DPE', context);
        assert.ok(result.closed, `closed; ${context}`);
        assert.ok(result.ms >= HEADER_TIMEOUT_MS - 50 && result.ms < 3000, `closed after ${result.ms} ms`);
        assert.deepEqual(paths, []);
        assert.equal(bytes, 0);
        await assertServesOn(port, 'slowloris');
      });
    }

    // pick: a stalled body is bounded by the stream idle timeout (5 min, like Envoy's
    // stream_idle_timeout), not the header timeout; meanwhile the sidecar serves others, the app
    // never sees a complete request, and when the client goes away the upstream request is cancelled.
    it('headers then a stalled body: others are served, the app never sees it complete, and it is cancelled when the client leaves', async () => {
      const conn = await RawConnection.open(caller.outboundPort);
      try {
        conn.write(`POST /stall HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 100\r\n\r\n0123456789`);
        await sleep(HEADER_TIMEOUT_MS * 3);
        await assertServesOn(caller.outboundPort, 'a stalled body on another connection');
        const stalled = app.requests.find((r) => r.url === '/stall');
        assert.ok(stalled === undefined || !stalled.complete, 'the app never sees the stalled request complete');
      } finally {
        conn.destroy();
      }
      const stalled = app.requests.find((r) => r.url === '/stall');
      if (stalled) await waitFor(() => stalled.aborted, 'the upstream request cancelled after the client left', 3000);
      assert.equal(caller.proc.exitCode, null);
    });

    it('a client that never reads: sidecar RSS grows < 64 MB while the app offers 50 MB, and backpressure reaches the app', async (t) => {
      const conn = await RawConnection.open(caller.outboundPort);
      conn.socket.pause();
      const before = { caller: caller.rssKb(), callee: callee.rssKb() };
      let peak = { caller: 0, callee: 0 };
      try {
        conn.write(`GET /big HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
        const until = Date.now() + 4000;
        while (Date.now() < until) {
          peak = { caller: Math.max(peak.caller, caller.rssKb()), callee: Math.max(peak.callee, callee.rssKb()) };
          await sleep(100);
        }
        const growth = { caller: (peak.caller - before.caller) / 1024, callee: (peak.callee - before.callee) / 1024 };
        const written = app.bigWritten() / (1024 * 1024);
        t.diagnostic(`RSS growth: caller ${growth.caller.toFixed(1)} MB, callee ${growth.callee.toFixed(1)} MB; the app wrote ${written.toFixed(1)} MB`);
        assert.ok(growth.caller < 64, `caller RSS grew ${growth.caller.toFixed(1)} MB (app wrote ${written.toFixed(1)} MB)`);
        assert.ok(growth.callee < 64, `callee RSS grew ${growth.callee.toFixed(1)} MB (app wrote ${written.toFixed(1)} MB)`);
        assert.ok(written < 50, `backpressure: the app could write only part of its 50 MB, wrote ${written.toFixed(1)} MB`);
      } finally {
        conn.destroy();
      }
      await sleep(200);
      assert.equal(caller.proc.exitCode, null);
      assert.equal(callee.proc.exitCode, null);
    });
  });

  // 6 -----------------------------------------------------------------------------------------
  describe('caller deadlines at the inbound listener (the app answers in ~20 ms)', () => {
    for (const d of DEADLINES) {
      it(`x-petrel-deadline-ms: ${d.value} -> ${d.status}`, async () => {
        const path = `/slow20-deadline-${d.value}`;
        const started = Date.now();
        const { result: reply, paths } = await watchApp(() => call(callee.inboundPort, { path, headers: { host: HOST, 'x-petrel-deadline-ms': d.value } }));
        const elapsed = Date.now() - started;
        if (d.status === 200) {
          assert.equal(reply.status, 200, `${reply.status} ${String(reply.headers['petrel-error'] ?? '')} ${reply.body}`);
          assert.deepEqual(paths, [path]);
          const seen = app.requests.find((r) => r.url === path);
          assert.equal(seen?.headers['x-petrel-deadline-ms'], undefined, 'the header never reaches the app');
        } else {
          assert.equal(reply.status, 504, reply.body);
          assert.equal(reply.headers['petrel-error'], 'UT');
          assert.deepEqual(paths, []);
          assert.ok(elapsed < 1000);
        }
      });
    }
  });
});
