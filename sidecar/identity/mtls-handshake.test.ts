// Mesh mTLS handshakes on loopback, real TLS both ways: the terminator the inbound listener uses and
// the dialler the pools use. A good pair connects and the server learns the caller's identity; an
// expired certificate, one from another CA or one naming the wrong identity fails the handshake with
// a log line naming the reason and a count in petrel_tls_handshake_errors_total.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { Registry } from 'prom-client';
import { TestCa } from '../../test/harness/test-ca.ts';
import { MeshTls } from './mesh-tls.ts';
import { MtlsTerminator, meshPeer } from '../listener/mtls-terminator.ts';
import { dialTls, TLS_HANDSHAKE_ERROR } from '../upstream/tls-dial.ts';
import { IdentityMetrics } from '../telemetry/identity-metrics.ts';
import type { Credentials } from './certificate-request.ts';
import { classifyUpstreamError } from '../proxy/upstream-error.ts';

const PAYMENTS = 'spiffe://cluster.local/ns/shop/sa/payments';
const CHECKOUT = 'spiffe://cluster.local/ns/shop/sa/checkout';

interface Side {
  metrics: IdentityMetrics;
  registry: Registry;
  logs: string[];
}

function side(): Side {
  const registry = new Registry();
  const metrics = new IdentityMetrics(registry);
  return { metrics, registry, logs: [] };
}

async function count(s: Side, direction: string, reason?: string): Promise<number> {
  const metric = reason === undefined ? s.metrics.handshakes : s.metrics.handshakeErrors;
  const values = (await metric.get()).values;
  return values.filter((v) => v.labels.direction === direction && (reason === undefined || (v.labels as Record<string, unknown>).reason === reason)).reduce((n, v) => n + v.value, 0);
}

describe('mesh mTLS handshakes', () => {
  let ca: TestCa;
  let otherCa: TestCa;
  const servers: Server[] = [];

  before(async () => {
    ca = await TestCa.create();
    otherCa = await TestCa.create('another mesh');
  });
  after(() => { for (const s of servers) s.close(); });

  /** An inbound terminator with `credentials`, trusting `roots`; returns its port and the identities it saw. */
  async function inbound(credentials: Credentials, s: Side): Promise<{ port: number; seen: string[] }> {
    const tls = new MeshTls();
    tls.setCredentials(credentials);
    const seen: string[] = [];
    const serve = (socket: TLSSocket) => {
      seen.push(meshPeer(socket)?.uri ?? 'none');
      socket.end('hello over mTLS');
    };
    const terminator = new MtlsTerminator({
      handshakeTimeoutMs: 5000, h2: serve, http1: serve, opaque: serve,
      observer: s.metrics.observer((_fields, message) => s.logs.push(message)),
    });
    terminator.update(tls.serverOptions()!);
    const server = createServer((socket) => terminator.terminate(socket));
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { port: (server.address() as AddressInfo).port, seen };
  }

  /** Dials `port` as `credentials`, expecting `expected`; resolves with what the server sent or the error. */
  async function call(port: number, credentials: Credentials, expected: string, s: Side): Promise<{ text?: string; err?: Error & { code?: string } }> {
    const tls = new MeshTls();
    tls.setCredentials(credentials);
    const socket = dialTls('127.0.0.1', port, 2000, tls.client(expected)!, ['http/1.1'], s.metrics.observer((_f, message) => s.logs.push(message)));
    return new Promise((resolve) => {
      let text = '';
      let err: (Error & { code?: string }) | undefined;
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => { text += c; });
      // The error (if any) can follow the end: answer once the socket is closed.
      socket.on('error', (e) => { err = e; });
      socket.on('close', () => resolve(err === undefined ? { text } : { err }));
    });
  }

  test('a caller and callee of the same mesh connect; the callee learns the caller\'s identity from its certificate', async () => {
    const server = side();
    const client = side();
    const { port, seen } = await inbound(await ca.issue(PAYMENTS), server);
    const result = await call(port, await ca.issue(CHECKOUT), PAYMENTS, client);
    assert.equal(result.text, 'hello over mTLS', String(result.err));
    assert.deepEqual(seen, [CHECKOUT]);
    assert.equal(await count(server, 'inbound'), 1);
    assert.equal(await count(client, 'outbound'), 1);
  });

  test('a callee whose certificate names another identity fails the caller\'s check: wrong identity, logged and counted', async () => {
    const server = side();
    const client = side();
    const { port, seen } = await inbound(await ca.issue('spiffe://cluster.local/ns/shop/sa/impostor'), server);
    const result = await call(port, await ca.issue(CHECKOUT), PAYMENTS, client);
    assert.equal(result.err?.code, TLS_HANDSHAKE_ERROR);
    assert.match(result.err!.message, /presented spiffe:\/\/cluster\.local\/ns\/shop\/sa\/impostor, but this endpoint must be spiffe:\/\/cluster\.local\/ns\/shop\/sa\/payments/);
    assert.equal(await count(client, 'outbound', 'wrong identity'), 1);
    assert.match(client.logs.join('\n'), /mTLS handshake failed \(outbound, wrong identity\)/);
    assert.deepEqual(seen, []);
  });

  test('a callee with an expired certificate is refused by the caller: certificate expired', async () => {
    const server = side();
    const client = side();
    const { port } = await inbound(await ca.issue(PAYMENTS, { fromMs: -7_200_000, untilMs: -3_600_000 }), server);
    const result = await call(port, await ca.issue(CHECKOUT), PAYMENTS, client);
    assert.equal(result.err?.code, TLS_HANDSHAKE_ERROR);
    assert.equal(await count(client, 'outbound', 'certificate expired'), 1, client.logs.join('\n'));
    assert.match(client.logs.join('\n'), /certificate expired/);
  });

  test('a caller with a certificate from another CA is refused by the callee: unknown CA, and nothing is served', async () => {
    const server = side();
    const client = side();
    const { port, seen } = await inbound(await ca.issue(PAYMENTS), server);
    const caller = await otherCa.issue(CHECKOUT);
    // The caller trusts our root (it could know it), but its own certificate is from another CA.
    const result = await call(port, { ...caller, roots: [ca.rootPem] }, PAYMENTS, client);
    assert.ok(result.err !== undefined || result.text === '', 'the connection must fail');
    assert.deepEqual(seen, []);
    assert.equal(await count(server, 'inbound', 'unknown CA'), 1, server.logs.join('\n'));
    assert.match(server.logs.join('\n'), /mTLS handshake failed \(inbound, unknown CA\)/);
  });

  test('a callee that resets the connection before the handshake ends (a sidecar with no certificate yet) is a connect failure, safe to resend', async () => {
    const client = side();
    const server = createServer((socket) => socket.destroy());
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const result = await call((server.address() as AddressInfo).port, await ca.issue(CHECKOUT), PAYMENTS, client);
    assert.equal(result.err?.code, TLS_HANDSHAKE_ERROR);
    const failure = classifyUpstreamError(result.err, 'payments endpoint');
    assert.deepEqual([failure.flag, failure.neverSent], ['UF', true]);
    assert.equal(await count(client, 'outbound', 'reset'), 1, client.logs.join('\n'));
  });

  test('a caller with an expired certificate is refused by the callee: certificate expired', async () => {
    const server = side();
    const client = side();
    const { port, seen } = await inbound(await ca.issue(PAYMENTS), server);
    await call(port, await ca.issue(CHECKOUT, { fromMs: -7_200_000, untilMs: -3_600_000 }), PAYMENTS, client);
    assert.deepEqual(seen, []);
    assert.equal(await count(server, 'inbound', 'certificate expired'), 1, server.logs.join('\n'));
  });
});
