// A mistake on the command line is one line on stderr that says what, where and what to do, with
// exit 1 (exit 2 for a flag commander refuses), never a Node stack trace.
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { runCli, type CliResult } from './harness/cli-run.ts';
import { snapshot, tempDir } from './harness/processes.ts';

/** Exactly one line on stderr, no stack frames, and the exit code. */
function assertOneLine(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'a stack trace');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0] ?? '', pattern);
}

const ephemeral = ['--inbound-port', '0', '--outbound-port', '0', '--admin-port', '0'];

describe('petrel CLI errors', () => {
  const dir = tempDir('petrel-cli-errors-');
  const config = join(dir, 'snapshot.yaml');
  writeFileSync(config, stringify(snapshot(1, [])));
  let busy: Server;
  let busyPort = 0;

  before(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    busyPort = (busy.address() as { port: number }).port;
  });
  after(() => busy.close());

  it('sidecar: a port in use names the port, the listener, its flag and what to do', async () => {
    const r = await runCli(['sidecar', '--service', 'web', '--config', config, '--inbound-port', '0', '--admin-port', '0', '--outbound-port', String(busyPort)]);
    assertOneLine(r, 1, new RegExp(`^petrel sidecar: port ${busyPort} \\(outbound listener, --outbound-port\\) is already in use on 127\\.0\\.0\\.1; stop the other process or choose another port$`));
  });

  it('control: a port in use names the port and its flag', async () => {
    const r = await runCli(['control', '--stream-port', '0', '--api-port', String(busyPort)]);
    assertOneLine(r, 1, new RegExp(`^petrel control: port ${busyPort} \\(HTTP API, --api-port\\) is already in use on 127\\.0\\.0\\.1; stop the other process`));
  });

  it('control: a missing --policies directory', async () => {
    const r = await runCli(['control', '--policies', join(dir, 'nope'), '--stream-port', '0', '--api-port', '0']);
    assertOneLine(r, 1, /^petrel control: --policies \S+nope: no such file or directory; create it or point --policies at a directory/);
  });

  it('control: --policies naming a file', async () => {
    const r = await runCli(['control', '--policies', config, '--stream-port', '0', '--api-port', '0']);
    assertOneLine(r, 1, /^petrel control: --policies \S+snapshot\.yaml: is not a directory;/);
  });

  it('sidecar: a malformed --control URL is a usage error (exit 2)', async () => {
    for (const bad of ['127.0.0.1:15010', 'ftp://x:1', 'http://', 'http://x:1/v1/subscribe']) {
      const r = await runCli(['sidecar', '--service', 'web', '--control', bad, ...ephemeral]);
      assertOneLine(r, 2, /^petrel sidecar: option '--control <url>' argument .* is invalid\. .*expected (only )?http:\/\/HOST:PORT/);
    }
  });

  it('sidecar: a --service-port callers cannot dial is a usage error (exit 2)', async () => {
    for (const bad of ['0', '65536', 'http']) {
      const r = await runCli(['sidecar', '--service', 'web', '--service-port', bad, ...ephemeral]);
      assertOneLine(r, 2, new RegExp(`^petrel sidecar: option '--service-port <port>' argument '${bad}' is invalid\\. "${bad}" is not a service port \\(1-65535\\)`));
    }
  });

  it('status: a malformed --control URL is a usage error (exit 2)', async () => {
    const r = await runCli(['status', '--control', 'localhost']);
    assertOneLine(r, 2, /^petrel status: .*expected http:\/\/HOST:PORT/);
  });

  it('sidecar and control: a missing token file', async () => {
    const missing = join(dir, 'token-missing');
    const sidecar = await runCli(['sidecar', '--service', 'web', '--control', 'http://127.0.0.1:1', '--token-file', missing, ...ephemeral]);
    assertOneLine(sidecar, 1, /^petrel sidecar: --token-file \S+token-missing: no such file or directory; write the token the control plane expects into it/);
    const control = await runCli(['control', '--token-file', missing, '--stream-port', '0', '--api-port', '0']);
    assertOneLine(control, 1, /^petrel control: --token-file \S+token-missing: no such file or directory;/);
  });

  it('sidecar: an empty token file', async () => {
    const empty = join(dir, 'token-empty');
    writeFileSync(empty, '\n');
    const r = await runCli(['sidecar', '--service', 'web', '--control', 'http://127.0.0.1:1', '--token-file', empty, ...ephemeral]);
    assertOneLine(r, 1, /^petrel sidecar: --token-file \S+token-empty: is empty;/);
  });

  it('sidecar: a missing --config file', async () => {
    const r = await runCli(['sidecar', '--service', 'web', '--config', join(dir, 'missing.yaml'), ...ephemeral]);
    assertOneLine(r, 1, /^petrel sidecar: --config \S+missing\.yaml: no such file or directory; give the path of a SidecarSnapshot YAML or JSON file$/);
  });

  it('sidecar: a --config that is a directory', async () => {
    const r = await runCli(['sidecar', '--service', 'web', '--config', dir, ...ephemeral]);
    assertOneLine(r, 1, /^petrel sidecar: --config \S+: is a directory, not a file;/);
  });

  it('sidecar: an unreadable --config file (permission denied)', async () => {
    const secret = join(dir, 'secret.yaml');
    writeFileSync(secret, stringify(snapshot(1, [])));
    chmodSync(secret, 0o000);
    // root reads everything: run the CLI as root without the capabilities that bypass file
    // permissions (setpriv, from util-linux), so it can still enter a checkout only root may enter.
    const asRoot = process.getuid?.() === 0;
    const prefix = asRoot ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--'] : [];
    const r = await runCli(['sidecar', '--service', 'web', '--config', secret, ...ephemeral], { prefix });
    assertOneLine(r, 1, /^petrel sidecar: --config \S+secret\.yaml: permission denied for uid \d+; make it readable to this user/);
  });

  it('an unexpected failure is one line that points at PETREL_DEBUG=1, which shows the stack', async () => {
    const args = ['sidecar', '--service', 'web', '--config', config, '--inbound-host', 'no-such-host.invalid', ...ephemeral];
    const r = await runCli(args);
    assertOneLine(r, 1, /^petrel sidecar: .*no-such-host\.invalid.*\(run with PETREL_DEBUG=1 for the stack\)$/);
    const debug = await runCli(args, { env: { PETREL_DEBUG: '1' } });
    assert.equal(debug.code, 1);
    assert.match(debug.stderr, /^\s+at /m);
  });
});

