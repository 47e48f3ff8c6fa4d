import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detectProtocol, isPrefaceStart } from './protocol-detection.ts';
import { DEFAULT_INTERCEPTION, interceptionRules, parsePortList } from './iptables-rules.ts';

describe('protocol detection', () => {
  it('knows an HTTP/1.x request line by its method', () => {
    for (const head of ['GET / HTTP/1.1\r\n', 'POST /x HTTP/1.1', 'OPTIONS * HTTP/1.1', 'PROPPATCH /a HTTP/1.1', 'M-SEARCH * HTTP/1.1']) {
      assert.equal(detectProtocol(Buffer.from(head)), 'http1', head);
    }
  });

  it('knows the HTTP/2 preface by its first four bytes, and waits for them', () => {
    assert.equal(detectProtocol(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'h2');
    assert.equal(detectProtocol(Buffer.from('PRI ')), 'h2');
    assert.equal(detectProtocol(Buffer.from('PRI')), 'need-more');
    assert.equal(isPrefaceStart(Buffer.from('PR')), 'maybe');
    assert.equal(isPrefaceStart(Buffer.from('PRI ')), 'yes');
    assert.equal(isPrefaceStart(Buffer.from('POST')), 'no');
    assert.equal(isPrefaceStart(Buffer.from('G')), 'no');
  });

  it('passes TLS, server-first greetings and binary through as opaque', () => {
    assert.equal(detectProtocol(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00])), 'opaque');
    assert.equal(detectProtocol(Buffer.from('get / HTTP/1.1')), 'opaque');
    assert.equal(detectProtocol(Buffer.from(' GET')), 'opaque');
    assert.equal(detectProtocol(Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZ')), 'opaque');
  });

  it('waits for more bytes while they could still be a method', () => {
    assert.equal(detectProtocol(Buffer.from('GE')), 'need-more');
    assert.equal(detectProtocol(Buffer.from('')), 'need-more');
  });
});

describe('iptables rules', () => {
  it('redirect inbound to 15006 and outbound to 15001, never the proxy uid, loopback or skipped ports', () => {
    const rules = interceptionRules({ ...DEFAULT_INTERCEPTION, skipInboundPorts: [22], skipOutboundPorts: [5432, 5432] }).split('\n');
    assert.ok(rules.includes('-A PETREL_IN_REDIRECT -p tcp -j REDIRECT --to-ports 15006'));
    assert.ok(rules.includes('-A PETREL_REDIRECT -p tcp -j REDIRECT --to-ports 15001'));
    const outbound = rules.filter((r) => r.startsWith('-A PETREL_OUTPUT '));
    assert.deepEqual(outbound, [
      '-A PETREL_OUTPUT -m owner --uid-owner 1337 -j RETURN',
      '-A PETREL_OUTPUT -o lo -j RETURN',
      '-A PETREL_OUTPUT -d 127.0.0.0/8 -j RETURN',
      '-A PETREL_OUTPUT -p tcp -m tcp --dport 5432 -j RETURN',
      '-A PETREL_OUTPUT -p tcp -j PETREL_REDIRECT',
    ]);
    const inbound = rules.filter((r) => r.startsWith('-A PETREL_INBOUND '));
    assert.deepEqual(inbound.map((r) => r.match(/--dport (\d+)/)?.[1]).filter(Boolean), ['15000', '15006', '22']);
    assert.equal(rules.at(-2), 'COMMIT');
  });

  it('port lists name the flag and the bad item', () => {
    assert.deepEqual(parsePortList('--skip-inbound-ports', '80, 443'), [80, 443]);
    assert.deepEqual(parsePortList('--skip-inbound-ports', ''), []);
    assert.throws(() => parsePortList('--skip-outbound-ports', '80,http'), /--skip-outbound-ports: "http" is not a port/);
    assert.throws(() => parsePortList('--skip-outbound-ports', '70000'), /"70000" is not a port/);
  });
});
