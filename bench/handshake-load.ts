// New mesh mTLS connections to one inbound sidecar, as fast as this process makes them: each one a
// TLS 1.3 handshake with the client certificate in --dir (cert.pem, key.pem; the roots in ca.pem),
// the callee checked for the SPIFFE identity --expect, then our end of the connection sent at once.
// A handshake counts once the sidecar has closed its end: it reads our end only after it has
// processed our certificate and Finished (the caller, bench/mesh-tls.ts, also checks the sidecar's own
// handshake counter against this count). --resume offers the last session ticket
// (a resumed handshake, as the sidecars' own pools reconnect); without it every handshake is full.
// Bounded by --count and --seconds. Prints one JSON line: handshakes, resumed, failures, seconds.
// Usage: node handshake-load.js --port PORT --dir DIR --expect spiffe://... [--concurrency 16]
//          [--count 20000] [--seconds 10] [--resume]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect, createSecureContext } from 'node:tls';
import { parseArgs } from 'node:util';
import { checkPeerIdentity } from '../sidecar/identity/mesh-tls.ts';
import { meshServerName, parseSpiffe } from '../sidecar/identity/spiffe.ts';

export interface HandshakeLoadResult { handshakes: number; resumed: number; failures: number; seconds: number; firstError: string }

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' }, dir: { type: 'string' }, expect: { type: 'string' },
      concurrency: { type: 'string', default: '16' }, count: { type: 'string', default: '20000' }, seconds: { type: 'string', default: '10' },
      resume: { type: 'boolean', default: false },
    },
  });
  const port = Number(values.port);
  const dir = values.dir as string;
  const expected = parseSpiffe(values.expect as string);
  if (!port || expected === undefined) throw new Error('usage: --port PORT --dir DIR --expect spiffe://...');
  const count = Number(values.count);
  const deadline = performance.now() + Number(values.seconds) * 1000;
  const context = createSecureContext({
    cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')), ca: readFileSync(join(dir, 'ca.pem')), minVersion: 'TLSv1.3',
  });
  const options = {
    host: '127.0.0.1', port, secureContext: context, servername: meshServerName(expected), checkServerIdentity: checkPeerIdentity(expected),
    minVersion: 'TLSv1.3' as const, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'],
  };
  let ticket: Buffer | undefined;
  const result: HandshakeLoadResult = { handshakes: 0, resumed: 0, failures: 0, seconds: 0, firstError: '' };
  let started = 0;

  const one = () => new Promise<void>((resolve) => {
    const socket = connect({ ...options, ...(values.resume && ticket ? { session: ticket } : {}) });
    let done = false;
    let secure = false;
    let reused = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) {
        result.failures++;
        result.firstError ||= err.message;
      } else {
        result.handshakes++;
        if (reused) result.resumed++;
      }
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(() => finish(new Error('not closed by the sidecar within 5 s')), 5000);
    socket.on('session', (session: Buffer) => { ticket = session; });
    socket.once('secureConnect', () => {
      secure = true;
      reused = socket.isSessionReused(); // null once the socket is closed
      socket.end(); // the sidecar reads our end only after it has finished the handshake, then closes
    });
    socket.on('data', () => {});
    socket.on('error', finish);
    socket.on('close', () => finish(secure ? undefined : new Error('closed before the handshake completed')));
  });

  const worker = async () => {
    while (started < count && performance.now() < deadline && result.failures < 1000) {
      started++;
      await one();
    }
  };
  if (values.resume) {
    await one(); // a full handshake for the first ticket, not counted
    if (ticket === undefined) throw new Error(`no session ticket: ${result.firstError}`);
    Object.assign(result, { handshakes: 0, resumed: 0, failures: 0, firstError: '' });
    started = 0;
  }
  const start = performance.now();
  await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
  result.seconds = (performance.now() - start) / 1000;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

await main();
