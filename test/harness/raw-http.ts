// Exact bytes over a net.Socket, and the exact bytes back: for requests that a well-behaved client
// library refuses to send (smuggling, bad framing, odd request lines) and for conversations on one
// connection (refused upgrades, pipelining). Every wait is bounded.
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** Offset just past this response in the text it was parsed from. */
  end: number;
}

export interface RawResult {
  /** Everything the server sent, latin1. */
  raw: string;
  /** The responses parsed out of `raw`, in order (a truncated last one is left out). */
  responses: RawResponse[];
  /** The server closed (or reset) the connection before the wait ran out. */
  closed: boolean;
  /** Time from the first write to the close, or to the end of the wait. */
  ms: number;
}

export interface RawOptions {
  /** Give up (and destroy the socket) after this long. Default 2000 ms. */
  waitMs?: number;
  /** Write `bytes` in pieces of this many bytes, `gapMs` apart (slow clients). */
  pieceSize?: number;
  gapMs?: number;
  /** Stop waiting as soon as this many complete responses arrived (the socket stays open until then). */
  stopAfterResponses?: number;
}

/** Parses consecutive HTTP/1.x responses (content-length, chunked, or no body for 1xx/204/304). */
export function parseResponses(raw: string, closed = false): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < raw.length) {
    const headEnd = raw.indexOf('\r\n\r\n', at);
    if (headEnd < 0) break;
    const lines = raw.slice(at, headEnd).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) break;
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    let bodyStart = headEnd + 4;
    let body = '';
    if (status < 200 || status === 204 || status === 304) {
      body = '';
      if (status === 101) { out.push({ status, headers, body, end: bodyStart }); break; }
    } else if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
      let p = bodyStart;
      let complete = false;
      for (;;) {
        const lineEnd = raw.indexOf('\r\n', p);
        if (lineEnd < 0) break;
        const size = parseInt(raw.slice(p, lineEnd), 16);
        if (Number.isNaN(size)) break;
        if (size === 0) {
          const end = raw.indexOf('\r\n\r\n', lineEnd);
          if (end < 0) break;
          p = end + 4;
          complete = true;
          break;
        }
        if (lineEnd + 2 + size + 2 > raw.length) break;
        body += raw.slice(lineEnd + 2, lineEnd + 2 + size);
        p = lineEnd + 2 + size + 2;
      }
      if (!complete) break;
      bodyStart = p;
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      if (bodyStart + len > raw.length) break;
      body = raw.slice(bodyStart, bodyStart + len);
      bodyStart += len;
    } else {
      if (!closed) break;
      body = raw.slice(bodyStart);
      bodyStart = raw.length;
    }
    out.push({ status, headers, body, end: bodyStart });
    at = bodyStart;
  }
  return out;
}

/** Writes raw bytes and collects everything the server sends until it closes or the wait passes. */
export function rawSend(port: number, bytes: string | Buffer, options: RawOptions = {}): Promise<RawResult> {
  const waitMs = options.waitMs ?? 2000;
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    let raw = '';
    let closed = false;
    let finished = false;
    const started = Date.now();
    let drip: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (drip) clearInterval(drip);
      socket.destroy();
      resolve({ raw, responses: parseResponses(raw, closed), closed, ms: Date.now() - started });
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (d: Buffer) => {
      raw += d.toString('latin1');
      if (options.stopAfterResponses !== undefined && parseResponses(raw).length >= options.stopAfterResponses) finish();
    });
    socket.on('close', () => { closed = true; finish(); });
    socket.on('error', () => { /* a reset counts as closed */ });
    if (options.pieceSize === undefined) {
      socket.write(data);
    } else {
      let offset = 0;
      const size = options.pieceSize;
      const writePiece = (): void => {
        if (offset >= data.length || !socket.writable) { if (drip) clearInterval(drip); return; }
        socket.write(data.subarray(offset, offset + size));
        offset += size;
      };
      writePiece();
      drip = setInterval(writePiece, options.gapMs ?? 50);
    }
  });
}

/** One connection driven step by step: write, read the next response, see whether it closed. */
export class RawConnection {
  readonly socket: Socket;
  #raw = '';
  #consumed = 0;
  #closed = false;
  readonly #waiters = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => { this.#raw += d.toString('latin1'); this.#wake(); });
    socket.on('close', () => { this.#closed = true; this.#wake(); });
    socket.on('error', () => { /* close follows */ });
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  get closed(): boolean { return this.#closed; }
  /** Everything received so far that no readResponse() took. */
  get pending(): string { return this.#raw.slice(this.#consumed); }

  write(bytes: string | Buffer): void {
    if (this.socket.writable) this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  }

  /** Waits until `check` holds on the unread bytes, the connection closes, or `timeoutMs` passes. */
  async waitFor(check: (pending: string) => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this.pending)) {
      if (this.#closed) return check(this.pending);
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, left);
        function done(): void { clearTimeout(t); resolve(); }
        this.#waiters.add(done);
      }).finally(() => this.#waiters.clear());
    }
    return true;
  }

  /** The next complete response, or undefined when none arrived in time (closed or timed out). */
  async readResponse(timeoutMs = 2000): Promise<RawResponse | undefined> {
    await this.waitFor((p) => parseResponses(p).length > 0, timeoutMs);
    const pending = this.pending;
    const [first] = parseResponses(pending, this.#closed);
    if (first === undefined) return undefined;
    this.#consumed += first.end;
    return first;
  }

  /** Resolves true when the server closes the connection within `timeoutMs`. */
  async waitClosed(timeoutMs = 2000): Promise<boolean> {
    await this.waitFor(() => this.#closed, timeoutMs);
    return this.#closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
