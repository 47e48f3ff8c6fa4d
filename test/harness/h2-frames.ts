// Raw HTTP/2 frames (RFC 9113) over a plain node:net socket, for attacks a well-behaved client
// library refuses to make: rapid resets, CONTINUATION and control-frame floods, oversized header
// lists, streams that never open their window. Header blocks use HPACK "literal header field without
// indexing, new name" (RFC 7541 §6.2.2) with plain (non-Huffman) strings, so no dynamic table state is
// shared with the server and any block can be sent again, alone or in pieces. What the server sends
// back is split into frames and counted; HPACK from the server is not decoded (a response is told by
// its frame types, its status by a normal client). Every wait is bounded.
import { connect, type Socket } from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  DATA: 0x0, HEADERS: 0x1, PRIORITY: 0x2, RST_STREAM: 0x3, SETTINGS: 0x4, PUSH_PROMISE: 0x5,
  PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8, CONTINUATION: 0x9,
} as const;

export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export const Setting = {
  HEADER_TABLE_SIZE: 0x1, ENABLE_PUSH: 0x2, MAX_CONCURRENT_STREAMS: 0x3, INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5, MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const ErrorCode = {
  NO_ERROR: 0x0, PROTOCOL_ERROR: 0x1, INTERNAL_ERROR: 0x2, FLOW_CONTROL_ERROR: 0x3, SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5, FRAME_SIZE_ERROR: 0x6, REFUSED_STREAM: 0x7, CANCEL: 0x8, COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa, ENHANCE_YOUR_CALM: 0xb, INADEQUATE_SECURITY: 0xc, HTTP_1_1_REQUIRED: 0xd,
} as const;

/** The largest frame payload a peer must accept before it raises SETTINGS_MAX_FRAME_SIZE. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;

export type HeaderList = readonly (readonly [string, string])[];

// ---------------------------------------------------------------------------------------------
// Frame writers

/** One frame: 9-byte header (24-bit length, type, flags, 31-bit stream id), then the payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (payload.length > 0xffffff) throw new RangeError(`frame payload of ${payload.length} bytes`);
  const out = Buffer.allocUnsafe(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out.writeUInt8(type, 3);
  out.writeUInt8(flags, 4);
  out.writeUInt32BE(streamId & 0x7fffffff, 5);
  payload.copy(out, 9);
  return out;
}

export function settingsFrame(entries: readonly (readonly [number, number])[] = []): Buffer {
  const payload = Buffer.allocUnsafe(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export function settingsAckFrame(): Buffer {
  return frame(FrameType.SETTINGS, Flag.ACK, 0);
}

export function pingFrame(opaque: Buffer = Buffer.alloc(8), ack = false): Buffer {
  if (opaque.length !== 8) throw new RangeError('PING carries exactly 8 bytes');
  return frame(FrameType.PING, ack ? Flag.ACK : 0, 0, opaque);
}

export function rstStreamFrame(streamId: number, code: number = ErrorCode.CANCEL): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment & 0x7fffffff);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function dataFrame(streamId: number, payload: Buffer, endStream = false): Buffer {
  return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, payload);
}

export function goawayFrame(lastStreamId: number, code: number = ErrorCode.NO_ERROR): Buffer {
  const payload = Buffer.allocUnsafe(8);
  payload.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  payload.writeUInt32BE(code, 4);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

export interface HeadersOptions {
  endStream?: boolean;
  /** Default true; false leaves the block open for CONTINUATION frames. */
  endHeaders?: boolean;
}

export function headersFrame(streamId: number, block: Buffer, options: HeadersOptions = {}): Buffer {
  const flags = (options.endStream ? Flag.END_STREAM : 0) | (options.endHeaders === false ? 0 : Flag.END_HEADERS);
  return frame(FrameType.HEADERS, flags, streamId, block);
}

export function continuationFrame(streamId: number, block: Buffer, endHeaders = false): Buffer {
  return frame(FrameType.CONTINUATION, endHeaders ? Flag.END_HEADERS : 0, streamId, block);
}

// ---------------------------------------------------------------------------------------------
// HPACK (RFC 7541), encoding only, never indexed, never Huffman

/** An integer with an N-bit prefix (§5.1); `high` holds the bits above the prefix in the first byte. */
export function hpackInteger(value: number, prefixBits: number, high = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([high | value]);
  const bytes = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A string literal (§5.2), H bit 0: the length, then the raw octets. */
export function hpackString(text: string): Buffer {
  const octets = Buffer.from(text, 'latin1');
  return Buffer.concat([hpackInteger(octets.length, 7, 0x00), octets]);
}

/** A header block of literal fields without indexing, new name (§6.2.2: 0x00, name, value). */
export function hpackLiterals(headers: HeaderList): Buffer {
  return Buffer.concat(headers.flatMap(([name, value]) => [Buffer.from([0x00]), hpackString(name), hpackString(value)]));
}

export interface RequestSpec {
  method?: string;
  path?: string;
  authority: string;
  scheme?: string;
  /** Regular headers after the pseudo-headers, names in lower case. */
  headers?: HeaderList;
}

export function requestHeaderList(spec: RequestSpec): HeaderList {
  return [
    [':method', spec.method ?? 'GET'], [':scheme', spec.scheme ?? 'http'],
    [':authority', spec.authority], [':path', spec.path ?? '/'],
    ...(spec.headers ?? []),
  ];
}

/**
 * A request's header block as HEADERS (+ CONTINUATION frames when the block is larger than one frame),
 * END_HEADERS on the last, END_STREAM on the HEADERS frame when asked (a request without a body).
 */
export function requestFrames(streamId: number, spec: RequestSpec, endStream = true, maxFrameSize = DEFAULT_MAX_FRAME_SIZE): Buffer {
  const block = hpackLiterals(requestHeaderList(spec));
  const pieces: Buffer[] = [];
  for (let at = 0; at < block.length || pieces.length === 0; at += maxFrameSize) pieces.push(block.subarray(at, at + maxFrameSize));
  return Buffer.concat(pieces.map((piece, i) => {
    const last = i === pieces.length - 1;
    return i === 0 ? headersFrame(streamId, piece, { endStream, endHeaders: last }) : continuationFrame(streamId, piece, last);
  }));
}

// ---------------------------------------------------------------------------------------------
// Frame reader

export interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** Splits a byte stream into frames; keeps an incomplete tail for the next push. */
export class FrameParser {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const frames: Frame[] = [];
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < 9 + length) break;
      frames.push({
        type: this.#buffer.readUInt8(3),
        flags: this.#buffer.readUInt8(4),
        streamId: this.#buffer.readUInt32BE(5) & 0x7fffffff,
        payload: Buffer.from(this.#buffer.subarray(9, 9 + length)),
      });
      this.#buffer = this.#buffer.subarray(9 + length);
    }
    return frames;
  }

  /** Bytes that do not make a whole frame (e.g. an HTTP/1.1 answer to the preface). */
  get rest(): Buffer { return this.#buffer; }
}

export function parseSettings(payload: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let at = 0; at + 6 <= payload.length; at += 6) out.push([payload.readUInt16BE(at), payload.readUInt32BE(at + 2)]);
  return out;
}

export interface Goaway { lastStreamId: number; errorCode: number; debug: string }

export function parseGoaway(payload: Buffer): Goaway {
  return {
    lastStreamId: payload.readUInt32BE(0) & 0x7fffffff,
    errorCode: payload.readUInt32BE(4),
    debug: payload.subarray(8).toString('latin1'),
  };
}

export function errorName(code: number): string {
  return Object.entries(ErrorCode).find(([, value]) => value === code)?.[0] ?? `0x${code.toString(16)}`;
}

export function frameTypeName(type: number): string {
  return Object.entries(FrameType).find(([, value]) => value === type)?.[0] ?? `0x${type.toString(16)}`;
}

// ---------------------------------------------------------------------------------------------
// A connection driven frame by frame

export interface H2ConnectionOptions {
  /** Our SETTINGS, sent right after the preface. Default: none (an empty SETTINGS frame). */
  settings?: readonly (readonly [number, number])[];
  /** ACK the server's SETTINGS (default true), as a client must. */
  ackSettings?: boolean;
}

/** What the server did on one stream. */
export interface StreamView {
  /** HEADERS frames (response head, then trailers) the server sent. */
  headers: number;
  dataBytes: number;
  dataFrames: number;
  /** END_STREAM seen. */
  ended: boolean;
  /** The error code of the server's RST_STREAM, if any. */
  reset?: number;
}

/**
 * A client connection speaking raw frames: sends the preface and SETTINGS at once, ACKs the server's
 * SETTINGS, and records what comes back. `pauseReading()` stops reading the socket at all (the kernel
 * buffers fill, the server's writes back up): the "never reads" client.
 */
export class H2Connection {
  readonly socket: Socket;
  readonly #parser = new FrameParser();
  /** Frame counts by type. */
  readonly counts = new Map<number, number>();
  readonly streams = new Map<number, StreamView>();
  /** The first GOAWAY the server sent. */
  goaway: Goaway | undefined;
  /** The server's SETTINGS (the first non-ACK frame). */
  serverSettings: [number, number][] | undefined;
  bytesIn = 0;
  /** Everything that did not parse as a frame stays here (an HTTP/1.1 answer, say). */
  get unparsed(): string { return this.#parser.rest.toString('latin1'); }
  #closed = false;
  #error: NodeJS.ErrnoException | undefined;
  readonly #waiters = new Set<() => void>();
  readonly #ackSettings: boolean;

  private constructor(socket: Socket, options: H2ConnectionOptions) {
    this.socket = socket;
    this.#ackSettings = options.ackSettings ?? true;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.bytesIn += chunk.length;
      for (const f of this.#parser.push(chunk)) this.#record(f);
      this.#wake();
    });
    socket.on('close', () => { this.#closed = true; this.#wake(); });
    socket.on('error', (err: NodeJS.ErrnoException) => { this.#error ??= err; /* close follows */ });
  }

  static open(port: number, options: H2ConnectionOptions = {}): Promise<H2Connection> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        const conn = new H2Connection(socket, options);
        socket.write(Buffer.concat([PREFACE, settingsFrame(options.settings ?? [])]));
        resolve(conn);
      });
    });
  }

  #record(f: Frame): void {
    this.counts.set(f.type, (this.counts.get(f.type) ?? 0) + 1);
    switch (f.type) {
      case FrameType.SETTINGS:
        if ((f.flags & Flag.ACK) === 0) {
          this.serverSettings ??= parseSettings(f.payload);
          if (this.#ackSettings) this.write(settingsAckFrame());
        }
        break;
      case FrameType.GOAWAY:
        this.goaway ??= parseGoaway(f.payload);
        break;
      case FrameType.HEADERS:
        this.#stream(f.streamId).headers++;
        if (f.flags & Flag.END_STREAM) this.#stream(f.streamId).ended = true;
        break;
      case FrameType.DATA: {
        const s = this.#stream(f.streamId);
        s.dataBytes += f.payload.length;
        s.dataFrames++;
        if (f.flags & Flag.END_STREAM) s.ended = true;
        break;
      }
      case FrameType.RST_STREAM:
        this.#stream(f.streamId).reset = f.payload.readUInt32BE(0);
        break;
    }
  }

  #stream(id: number): StreamView {
    let s = this.streams.get(id);
    if (s === undefined) {
      s = { headers: 0, dataBytes: 0, dataFrames: 0, ended: false };
      this.streams.set(id, s);
    }
    return s;
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  get closed(): boolean { return this.#closed; }
  get error(): NodeJS.ErrnoException | undefined { return this.#error; }
  count(type: number): number { return this.counts.get(type) ?? 0; }
  stream(id: number): StreamView | undefined { return this.streams.get(id); }

  /** Queues bytes; false when the socket's buffer is full (await `drained()`) or it is gone. */
  write(bytes: Buffer): boolean {
    if (this.#closed || this.socket.destroyed || !this.socket.writable) return false;
    return this.socket.write(bytes);
  }

  /**
   * Resolves true once the socket's write buffer drained, false when it did not within `timeoutMs`
   * (the server stopped reading: throttled) or the connection closed.
   */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.#closed || this.socket.destroyed) return Promise.resolve(false);
    if (!this.socket.writableNeedDrain) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        resolve(ok);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      const timer = setTimeout(() => done(false), timeoutMs);
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }

  pauseReading(): void { this.socket.pause(); }
  resumeReading(): void { this.socket.resume(); }

  /** Waits until `check` holds, the connection closes, or `timeoutMs` passes; returns `check()`. */
  async waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (this.#closed) return check();
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(t); this.#waiters.delete(done); resolve(); };
        const t = setTimeout(done, left);
        this.#waiters.add(done);
      });
    }
    return true;
  }

  /** Resolves true when the server closes (or resets) the connection within `timeoutMs`. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    await this.waitFor(() => this.#closed, timeoutMs);
    return this.#closed;
  }

  /** One line for assertion messages. */
  describe(): string {
    const counts = [...this.counts].map(([type, n]) => `${frameTypeName(type)}=${n}`).join(' ');
    const goaway = this.goaway ? ` GOAWAY(last=${this.goaway.lastStreamId}, ${errorName(this.goaway.errorCode)}${this.goaway.debug ? `, "${this.goaway.debug}"` : ''})` : '';
    const unparsed = this.#parser.rest.length > 0 ? ` unparsed=${JSON.stringify(this.unparsed.slice(0, 120))}` : '';
    return `${this.#closed ? 'closed' : 'open'}${this.#error ? ` (${this.#error.code})` : ''}; frames: ${counts || 'none'};${goaway}${unparsed}`;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface FloodResult {
  /** Units (frames, pairs) handed to the socket. */
  sent: number;
  /** The server closed the connection during the flood. */
  closed: boolean;
  /** A write waited longer than `stallMs` to drain: the server stopped reading from us. */
  throttled: boolean;
  ms: number;
}

export interface FloodOptions {
  /** Stop after this many units. */
  count: number;
  /** Units per write. */
  batch: number;
  /** Stop after this long, whatever happened. */
  timeMs: number;
  /** A drain that takes longer than this counts as throttling and ends the flood. Default 2000 ms. */
  stallMs?: number;
}

/**
 * Writes `unit(i)` for i = 0.. in batches until `count` units went out, the server closed the
 * connection, it stopped reading (throttled), or `timeMs` passed. Bounded in count and time.
 */
export async function flood(conn: H2Connection, unit: (i: number) => Buffer, options: FloodOptions): Promise<FloodResult> {
  const started = Date.now();
  let sent = 0;
  let throttled = false;
  while (sent < options.count && !conn.closed && Date.now() - started < options.timeMs) {
    const n = Math.min(options.batch, options.count - sent);
    const pieces: Buffer[] = [];
    for (let i = 0; i < n; i++) pieces.push(unit(sent + i));
    sent += n;
    if (!conn.write(Buffer.concat(pieces))) {
      if (conn.closed || conn.socket.destroyed) break;
      const budget = Math.min(options.stallMs ?? 2000, Math.max(0, options.timeMs - (Date.now() - started)));
      if (!(await conn.drained(budget))) {
        throttled = !conn.closed;
        break;
      }
    } else if (sent % (options.batch * 16) === 0) {
      // Let the socket's events (data, close) run between bursts.
      await new Promise((r) => setImmediate(r));
    }
  }
  return { sent, closed: conn.closed, throttled, ms: Date.now() - started };
}
