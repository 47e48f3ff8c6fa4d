// The ClientHello reader on real ClientHellos from node:tls, on every truncation of one, and on
// garbage: it names the SNI, asks for more while the record is incomplete, and never throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { clientHelloServerName } from './client-hello.ts';

/** The first record a real TLS client sends, with `servername` (none for an IP address). */
async function realClientHello(servername: string | undefined): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const got = new Promise<Buffer>((resolve) => server.once('connection', (socket) => {
    let head = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      if (head.length >= 5 && head.length >= 5 + head.readUInt16BE(3)) {
        resolve(head.subarray(0, 5 + head.readUInt16BE(3)));
        socket.destroy();
      }
    });
  }));
  const client = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername, ALPNProtocols: ['h2'], rejectUnauthorized: false });
  client.on('error', () => {});
  const hello = await got;
  client.destroy();
  server.close();
  return hello;
}

test('reads the SNI of a real ClientHello, and asks for more on every truncation of it', async () => {
  const name = 'payments.shop.serviceaccount.identity.petrel.cluster.local';
  const hello = await realClientHello(name);
  assert.deepEqual(clientHelloServerName(hello), { kind: 'sni', name });
  for (let n = 0; n < hello.length; n++) assert.deepEqual(clientHelloServerName(hello.subarray(0, n)), { kind: 'need-more' }, `at ${n} bytes`);
  // Bytes after the record (the rest of the flight) change nothing.
  assert.deepEqual(clientHelloServerName(Buffer.concat([hello, randomBytes(100)])), { kind: 'sni', name });
});

test('a ClientHello without SNI (a client dialling an IP address) is TLS with no name', async () => {
  assert.deepEqual(clientHelloServerName(await realClientHello(undefined)), { kind: 'no-sni' });
});

test('anything that is not a TLS handshake record is not-tls; garbage never throws', () => {
  assert.deepEqual(clientHelloServerName(Buffer.from('GET / HTTP/1.1\r\n')), { kind: 'not-tls' });
  assert.deepEqual(clientHelloServerName(Buffer.from([0x16, 0x02, 0x00, 0x00, 0x01, 0x01])), { kind: 'not-tls' });
  // A record that claims more than 16 KiB is not a ClientHello we wait for.
  assert.deepEqual(clientHelloServerName(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff])), { kind: 'not-tls' });
  for (let i = 0; i < 2000; i++) {
    const length = 1 + Math.floor(Math.random() * 300);
    const bytes = randomBytes(length);
    bytes[0] = 0x16;
    bytes[1] = 0x03;
    if (length >= 5) bytes.writeUInt16BE(length - 5, 3);
    const result = clientHelloServerName(bytes);
    assert.ok(['sni', 'no-sni', 'not-tls', 'need-more'].includes(result.kind));
  }
});
