// Reads the server name (SNI) from a TLS ClientHello without terminating anything. On a connection
// iptables redirected to the inbound listener, a ClientHello naming a mesh identity
// (identity/spiffe.ts meshServerName) is another sidecar's mTLS, which this sidecar terminates;
// any other TLS is the app's own and passes through untouched. RFC 8446 §4.1.2, RFC 6066 §3.

/** First byte of a TLS handshake record. */
export const TLS_HANDSHAKE = 0x16;
/** A ClientHello fits one record (16 KiB); we read no further. */
const MAX_RECORD = 16_384 + 5;

export type ServerNameResult = { kind: 'sni'; name: string } | { kind: 'no-sni' } | { kind: 'not-tls' } | { kind: 'need-more' };

/** The server name of the ClientHello in `head`, once the whole first record has arrived. */
export function clientHelloServerName(head: Buffer): ServerNameResult {
  if (head.length === 0) return { kind: 'need-more' };
  if (head[0] !== TLS_HANDSHAKE) return { kind: 'not-tls' };
  if (head.length < 5) return { kind: 'need-more' };
  if (head[1] !== 3) return { kind: 'not-tls' };
  const recordLength = head.readUInt16BE(3);
  if (recordLength + 5 > MAX_RECORD) return { kind: 'not-tls' };
  if (head.length < 5 + recordLength) return { kind: 'need-more' };
  const r = new Reader(head.subarray(5, 5 + recordLength));
  if (r.u8() !== 1) return { kind: 'not-tls' }; // not a ClientHello
  const body = new Reader(r.bytes(r.u24()));
  body.skip(2 + 32); // legacy_version, random
  body.skip(body.u8()); // legacy_session_id
  body.skip(body.u16()); // cipher_suites
  body.skip(body.u8()); // legacy_compression_methods
  if (body.remaining() === 0 || body.failed) return body.failed ? { kind: 'not-tls' } : { kind: 'no-sni' };
  const extensions = new Reader(body.bytes(body.u16()));
  while (extensions.remaining() >= 4 && !extensions.failed) {
    const type = extensions.u16();
    const data = new Reader(extensions.bytes(extensions.u16()));
    if (type !== 0) continue; // server_name
    const list = new Reader(data.bytes(data.u16()));
    while (list.remaining() >= 3 && !list.failed) {
      const nameType = list.u8();
      const name = list.bytes(list.u16());
      if (nameType === 0 && !list.failed) return { kind: 'sni', name: name.toString('latin1') };
    }
  }
  return body.failed || extensions.failed ? { kind: 'not-tls' } : { kind: 'no-sni' };
}

/** A bounds-checked cursor: reading past the end sets `failed` and yields zeros. */
class Reader {
  readonly #buf: Buffer;
  #at = 0;
  failed = false;

  constructor(buf: Buffer) {
    this.#buf = buf;
  }

  remaining(): number {
    return this.#buf.length - this.#at;
  }

  #take(n: number): number {
    if (this.#at + n > this.#buf.length) {
      this.failed = true;
      this.#at = this.#buf.length;
      return -1;
    }
    const at = this.#at;
    this.#at += n;
    return at;
  }

  u8(): number {
    const at = this.#take(1);
    return at < 0 ? 0 : this.#buf[at]!;
  }

  u16(): number {
    const at = this.#take(2);
    return at < 0 ? 0 : this.#buf.readUInt16BE(at);
  }

  u24(): number {
    const at = this.#take(3);
    return at < 0 ? 0 : this.#buf.readUIntBE(at, 3);
  }

  bytes(n: number): Buffer {
    const at = this.#take(n);
    return at < 0 ? Buffer.alloc(0) : this.#buf.subarray(at, at + n);
  }

  skip(n: number): void {
    this.#take(n);
  }
}
