// Mesh identity end to end: a control plane (the CA) and three sidecars on loopback. Calls between
// sidecars are mTLS with certificates the control plane issued; the callee names its caller from the
// certificate, never from headers; an AccessPolicy allows one service account and refuses the
// others; `mtls: strict` refuses plaintext before the app; and with the control plane gone, traffic
// flows on the certificates in hand.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { call } from './harness/client.ts';
import { waitFor } from './harness/wait.ts';
import { startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';
import { accessPolicyYaml } from './harness/access-policy.ts';
import { attr, SERVER, startOtlpReceiver, type OtlpReceiver } from './harness/otlp-receiver.ts';
import { startGrpcApp, type GrpcApp } from './harness/grpc-app.ts';
import { EchoClient } from './harness/grpc-client.ts';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { requestCertificate } from '../sidecar/identity/certificate-request.ts';
import { meshServerName, parseSpiffe } from '../sidecar/identity/spiffe.ts';
import { checkPeerIdentity } from '../sidecar/identity/mesh-tls.ts';
import { OPAQUE_ALPN } from '../sidecar/interception/opaque-tcp.ts';

const run = promisify(execFile);

const accessPolicy = (mtls: string) => accessPolicyYaml('payments', mtls, [{ serviceAccounts: ['web'] }]);

interface ReadyDetails { ready: boolean; identity: string | null; mtls: string; certificateExpires?: string }

describe('mesh mTLS between sidecars, with identities from the control plane', () => {
  let control: ControlHandle;
  let payments: SidecarHandle;
  let web: SidecarHandle;
  let billing: SidecarHandle;
  let app: Upstream;
  let appCalls = 0;
  let seenHeaders: Record<string, string | string[] | undefined>[] = [];
  let dir: string;
  let grpcApp: GrpcApp;
  let echo: SidecarHandle;
  let tunnelApp: Server;
  let tunnel: SidecarHandle;
  let receiver: OtlpReceiver;

  const details = async (s: SidecarHandle): Promise<ReadyDetails> => (await (await s.admin('/ready?details=1')).json()) as ReadyDetails;

  before(async () => {
    app = await startUpstream((req, res) => { appCalls++; seenHeaders.push(req.headers); res.end('paid'); });
    dir = join(tempDir(), 'policies');
    mkdirSync(dir);
    writeFileSync(join(dir, 'payments.yaml'), accessPolicy('permissive'));
    control = await startControl({ policiesDir: dir, args: ['--startup-grace', '0s', '--cert-ttl', '1h'] });
    const controlArgs = ['--control', control.streamUrl];
    receiver = await startOtlpReceiver();
    payments = await startSidecar({
      service: 'payments', app: app.address, args: [...controlArgs, '--access-log', 'all'],
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_TRACES_SAMPLER_ARG: '1' },
    });
    web = await startSidecar({ service: 'web', args: controlArgs });
    // A second caller under its own service account, which the policy does not list.
    billing = await startSidecar({ service: 'billing', args: [...controlArgs, '--service-account', 'invoicer'] });
    // A gRPC app (HTTP/2 between the sidecars: ALPN h2) and an app that accepts Upgrade (a tunnel).
    grpcApp = await startGrpcApp();
    echo = await startSidecar({ service: 'echo', app: grpcApp.address, args: controlArgs });
    tunnelApp = createServer((_req, res) => res.end('no upgrade'));
    tunnelApp.on('upgrade', (_req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n');
      socket.on('data', (d: Buffer) => socket.write(d));
    });
    tunnelApp.listen(0, '127.0.0.1');
    await once(tunnelApp, 'listening');
    tunnel = await startSidecar({ service: 'tunnel', app: `127.0.0.1:${(tunnelApp.address() as AddressInfo).port}`, args: controlArgs });
    for (const s of [payments, web, billing, echo, tunnel]) await waitFor(async () => (await details(s)).mtls === 'on', 'a workload certificate');
    await waitFor(async () => (await call(web.outboundPort, { headers: { host: 'payments' } })).status === 200, 'web reaches payments');
  });

  after(async () => {
    await Promise.all([web?.stop('SIGKILL'), billing?.stop('SIGKILL'), payments?.stop('SIGKILL'), echo?.stop('SIGKILL'), tunnel?.stop('SIGKILL'), control?.stop('SIGKILL')]);
    await Promise.all([app?.close(), grpcApp?.close()]);
    receiver?.close();
    tunnelApp?.close();
  });

  it('each sidecar holds a certificate naming its SPIFFE identity, and says so in /ready details', async () => {
    assert.equal((await details(payments)).identity, 'spiffe://cluster.local/ns/default/sa/payments');
    assert.equal((await details(billing)).identity, 'spiffe://cluster.local/ns/default/sa/invoicer');
  });

  it('openssl s_client against an inbound listener shows the SPIFFE SAN and the configured lifetime', async () => {
    // Without a client certificate the server refuses us after the handshake, but shows its own.
    const { stdout } = await run('sh', ['-c', `echo | openssl s_client -connect 127.0.0.1:${payments.inboundPort} -tls1_3 -alpn h2,http/1.1 -showcerts 2>/dev/null; true`]);
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(stdout)?.[0];
    assert.ok(pem, `s_client printed no certificate:\n${stdout.slice(0, 2000)}`);
    const cert = new X509Certificate(pem);
    assert.equal(cert.subjectAltName, 'URI:spiffe://cluster.local/ns/default/sa/payments');
    const lifetimeMs = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
    // --cert-ttl 1h, plus the minute of clock skew allowed before now.
    assert.equal(lifetimeMs, 3_600_000 + 60_000);
    assert.match(stdout, /TLSv1\.3/);
  });

  it('the callee names the caller from its certificate: peer_service and tls="true" in the inbound metrics', async () => {
    const reply = await call(web.outboundPort, { headers: { host: 'payments', 'x-petrel-peer': 'forged' } });
    assert.equal(reply.status, 200, reply.body);
    await waitFor(async () => (await payments.metric('petrel_requests_total', { direction: 'inbound', peer_service: 'web', tls: 'true', code: '200' })) >= 1, 'the inbound series of web over mTLS');
    assert.equal(await payments.metric('petrel_requests_total', { direction: 'inbound', peer_service: 'forged' }), 0);
    // Nothing of the mesh's own headers reaches the app.
    const last = seenHeaders.at(-1)!;
    assert.equal(last['x-petrel-peer'], undefined);
  });

  it('gRPC goes between the sidecars as HTTP/2 over mTLS (ALPN h2), balanced and labelled per call', async () => {
    const client = new EchoClient(`127.0.0.1:${web.outboundPort}`, { authority: 'echo' });
    try {
      for (let i = 0; i < 5; i++) {
        const result = await client.unary(Buffer.from(`call ${i}`));
        assert.equal(result.code, 0, result.details);
      }
    } finally {
      client.client.close();
    }
    assert.equal(await echo.metric('petrel_requests_total', { direction: 'inbound', peer_service: 'web', tls: 'true', grpc_status: '0' }), 5);
    assert.ok(await echo.metric('petrel_tls_handshakes_total', { direction: 'inbound' }) >= 1);
    assert.equal(await web.metric('petrel_requests_total', { direction: 'outbound', peer_service: 'echo', tls: 'true', grpc_status: '0' }), 5);
  });

  it('an Upgrade becomes a tunnel through both sidecars over mTLS', async () => {
    const req = request({ host: '127.0.0.1', port: web.outboundPort, path: '/ws', headers: { host: 'tunnel', connection: 'upgrade', upgrade: 'echo' } });
    req.end();
    const [res, socket] = await once(req, 'upgrade') as [{ statusCode: number }, import('node:net').Socket];
    assert.equal(res.statusCode, 101);
    socket.write('ping over the tunnel');
    const [echoed] = await once(socket, 'data') as [Buffer];
    assert.equal(echoed.toString(), 'ping over the tunnel');
    socket.destroy();
    assert.ok(await tunnel.metric('petrel_tls_handshakes_total', { direction: 'inbound' }) >= 1);
    assert.equal(await tunnel.metric('petrel_requests_total', { direction: 'inbound', peer_service: 'web', tls: 'true', code: '101' }), 1);
  });

  it('a plaintext caller cannot set the peer label or the deadline: peer_service="unknown", tls="false"', async () => {
    writeFileSync(join(dir, 'payments.yaml'), accessPolicyYaml('payments', 'permissive'));
    await waitFor(async () => (await call(payments.inboundPort, { headers: { host: 'payments' } })).status === 200, 'plaintext allowed again');
    const reply = await call(payments.inboundPort, { headers: { host: 'payments', 'x-petrel-peer': 'web', 'x-petrel-deadline-ms': '0' } });
    assert.equal(reply.status, 200, `a forged deadline of 0 must be ignored: ${reply.body}`);
    assert.ok(await payments.metric('petrel_requests_total', { direction: 'inbound', peer_service: 'unknown', tls: 'false', code: '200' }) >= 2);
    assert.equal(await payments.metric('petrel_requests_total', { direction: 'inbound', peer_service: 'web', tls: 'false' }), 0);
    writeFileSync(join(dir, 'payments.yaml'), accessPolicy('permissive'));
    await waitFor(async () => (await call(payments.inboundPort, { headers: { host: 'payments' } })).status === 403, 'the rules back');
  });

  it('a service account outside the rules gets 403 RBAC while the allowed one gets 200', async () => {
    const before = appCalls;
    const allowed = await call(web.outboundPort, { headers: { host: 'payments' }, path: '/v1/pay' });
    assert.equal(allowed.status, 200, allowed.body);
    const denied = await call(billing.outboundPort, { headers: { host: 'payments' }, path: '/v1/pay' });
    assert.equal(denied.status, 403, denied.body);
    assert.equal(denied.headers['petrel-error'], 'RBAC');
    assert.match(denied.body, /spiffe:\/\/cluster\.local\/ns\/default\/sa\/invoicer/);
    assert.equal(appCalls, before + 1, 'the denied call never reached the app');
    // The access log names the caller by its certificate, with the flag.
    // (Earlier denials of plaintext callers are in the log too; the access log is written asynchronously.)
    const denialLine = () => payments.output().split('\n').find((l) => l.includes('"flags":"RBAC"') && l.includes('sa/invoicer'));
    await waitFor(() => denialLine() !== undefined, 'the denial of invoicer in the access log');
    const line = denialLine()!;
    const record = JSON.parse(line) as { peer_identity: string; tls: string; status: number };
    assert.deepEqual([record.peer_identity, record.tls, record.status], ['spiffe://cluster.local/ns/default/sa/invoicer', 'true', 403]);
    // And the trace: the SERVER span names the caller by its certificate and carries the denial.
    await waitFor(() => receiver.spans.some((sp) => sp.kind === SERVER && attr(sp, 'petrel.peer.identity') === 'spiffe://cluster.local/ns/default/sa/invoicer'), 'the denied call\'s span');
    const span = receiver.spans.find((sp) => sp.kind === SERVER && attr(sp, 'petrel.peer.identity') === 'spiffe://cluster.local/ns/default/sa/invoicer')!;
    assert.equal(attr(span, 'petrel.flags'), 'RBAC');
    assert.ok(await payments.metric('petrel_authz_denied_total', { service: 'payments', peer_service: 'invoicer' }) >= 1);
  });

  it('mtls: strict refuses plaintext before the app, while mTLS callers still pass', async () => {
    writeFileSync(join(dir, 'payments.yaml'), accessPolicy('strict'));
    await waitFor(async () => /mutual TLS/.test((await call(payments.inboundPort, { headers: { host: 'payments' } })).body), 'strict in force');
    const before = appCalls;
    const plain = await call(payments.inboundPort, { headers: { host: 'payments' } });
    assert.equal(plain.status, 403);
    assert.equal(plain.headers['petrel-error'], 'RBAC');
    assert.equal(appCalls, before);
    assert.equal((await call(web.outboundPort, { headers: { host: 'payments' } })).status, 200);
  });

  it('petrel status shows each sidecar\'s identity and certificate expiry', async () => {
    const status = await control.status() as unknown as { sidecars: { service: string; identity: string | null; certExpires: string | null }[] };
    await waitFor(async () => ((await control.status()) as unknown as typeof status).sidecars.every((s) => s.identity !== null), 'identities in the status');
    const rows = ((await control.status()) as unknown as typeof status).sidecars;
    const row = rows.find((s) => s.service === 'billing')!;
    assert.equal(row.identity, 'spiffe://cluster.local/ns/default/sa/invoicer');
    assert.ok(row.certExpires !== null && Date.parse(row.certExpires) > Date.now());
  });

  it('opaque TCP between sidecars rides mTLS (ALPN petrel-tcp/1): bytes reach the app as they were sent, allowed by identity', async () => {
    // A raw HTTP request as opaque bytes: the app answers it, but the sidecar's HTTP pipeline never saw it.
    const opaque = async (serviceAccount: string): Promise<string> => {
      const credentials = await requestCertificate({
        control: { url: control.streamUrl, token: undefined, tokenFile: undefined, ca: undefined }, namespace: 'default', serviceAccount,
      });
      const socket = tlsConnect({
        host: '127.0.0.1', port: payments.inboundPort, key: credentials.keyPem, cert: credentials.certPem, ca: [...credentials.roots],
        servername: meshServerName(parseSpiffe('spiffe://cluster.local/ns/default/sa/payments')!), ALPNProtocols: [OPAQUE_ALPN],
        checkServerIdentity: checkPeerIdentity(parseSpiffe('spiffe://cluster.local/ns/default/sa/payments')!),
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => { text += c; });
      socket.on('secureConnect', () => {
        assert.equal(socket.alpnProtocol, OPAQUE_ALPN);
        socket.end('GET /opaque HTTP/1.1\r\nhost: raw\r\nconnection: close\r\n\r\n');
      });
      // A refusal resets the connection (possibly before our side saw the handshake end): what was
      // read until then is the answer.
      socket.on('error', () => {});
      // (events.once() would reject on that 'error'.)
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      return text;
    };
    const requestsBefore = await payments.metric('petrel_requests_total', { direction: 'inbound' });
    const before = appCalls;
    const reply = await opaque('web');
    assert.match(reply, /^HTTP\/1\.1 200[\s\S]*paid$/);
    assert.equal(appCalls, before + 1);
    assert.equal(seenHeaders.at(-1)?.['x-forwarded-for'], undefined, 'no sidecar header hygiene: the bytes were opaque');
    assert.equal(await payments.metric('petrel_requests_total', { direction: 'inbound' }), requestsBefore);
    assert.ok(await payments.metric('petrel_tcp_connections_opened_total', { direction: 'inbound', peer_service: 'web' }) >= 1);
    // invoicer is not in the rules: refused before the app, and counted as a denial.
    const denials = await payments.metric('petrel_authz_denied_total', { service: 'payments', peer_service: 'invoicer' });
    assert.equal(await opaque('invoicer'), '');
    assert.equal(appCalls, before + 1);
    assert.equal(await payments.metric('petrel_authz_denied_total', { service: 'payments', peer_service: 'invoicer' }), denials + 1);
  });

  it('with the control plane killed, traffic flows on the current certificates', async () => {
    await control.stop('SIGKILL');
    for (let i = 0; i < 20; i++) {
      const reply = await call(web.outboundPort, { headers: { host: 'payments' }, path: `/after-control/${i}` });
      assert.equal(reply.status, 200, reply.body);
    }
    const d = await details(web);
    assert.equal(d.ready, true);
    assert.equal(d.mtls, 'on');
  });
});
