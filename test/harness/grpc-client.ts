// A real @grpc/grpc-js client for the gRPC tests: one channel (one HTTP/2 connection) to a target,
// naming the mesh service in :authority (grpc.default_authority), raw Buffer messages. Every call
// resolves with what the client saw (status, details, response headers and trailers, messages),
// whatever the status: tests assert on codes, never on thrown errors. grpc-js's own retries are off,
// so every retry a test counts is the sidecar's.
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { MESSAGE_LIMITS, path, raw, type Script } from './grpc-app.ts';

export type ClientCall = grpc.ClientUnaryCall | grpc.ClientReadableStream<Buffer> | grpc.ClientWritableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>;

export interface CallOptions {
  /** x-call-id: the server counts attempts by it (default: a fresh UUID). */
  id?: string;
  script?: Script;
  /** Request metadata; a key ending in -bin takes a Buffer. */
  metadata?: Record<string, string | Buffer>;
  /** Client deadline, from the moment the call starts. */
  deadlineMs?: number;
  /** Gets the live call as it starts: cancel it, pause and resume its reading. */
  onCall?: (call: ClientCall) => void;
  /** Count response messages without keeping them (large streams). */
  discard?: boolean;
}

export interface CallResult {
  id: string;
  /** grpc.status; -1 until the status arrives. */
  code: number;
  details: string;
  /** Response headers (initial metadata); undefined when the reply was trailers-only. */
  headers: grpc.Metadata | undefined;
  trailers: grpc.Metadata;
  messages: Buffer[];
  count: number;
  bytes: number;
  elapsedMs: number;
}

export interface ClientInput {
  /** The mesh service named in :authority. */
  authority?: string;
  options?: grpc.ChannelOptions;
}

export class EchoClient {
  readonly client: grpc.Client;

  constructor(target: string, input: ClientInput = {}) {
    this.client = new grpc.Client(target, grpc.credentials.createInsecure(), {
      ...MESSAGE_LIMITS,
      'grpc.enable_retries': 0,
      'grpc.use_local_subchannel_pool': 1,
      ...(input.authority === undefined ? {} : { 'grpc.default_authority': input.authority }),
      ...input.options,
    });
  }

  unary(message: Buffer, o: CallOptions = {}): Promise<CallResult> {
    return this.#run(o, false, (md, opts, keep) =>
      this.client.makeUnaryRequest(path('Unary'), raw.serialize, raw.deserialize, message, md, opts, (_err, value) => { if (value) keep(value); }));
  }

  serverStream(message: Buffer, o: CallOptions = {}): Promise<CallResult> {
    return this.#run(o, true, (md, opts) => this.client.makeServerStreamRequest(path('ServerStream'), raw.serialize, raw.deserialize, message, md, opts));
  }

  clientStream(messages: Buffer[], o: CallOptions = {}): Promise<CallResult> {
    return this.#run(o, false, (md, opts, keep) => {
      const call = this.client.makeClientStreamRequest(path('ClientStream'), raw.serialize, raw.deserialize, md, opts, (_err, value) => { if (value) keep(value); });
      for (const m of messages) call.write(m);
      call.end();
      return call;
    });
  }

  bidi(messages: Buffer[], o: CallOptions = {}): Promise<CallResult> {
    return this.#run(o, true, (md, opts) => {
      const call = this.client.makeBidiStreamRequest(path('Bidi'), raw.serialize, raw.deserialize, md, opts);
      for (const m of messages) call.write(m);
      call.end();
      return call;
    });
  }

  /** Bidi one message at a time: each goes only once the echo of the one before came back. */
  pingPong(messages: Buffer[], o: CallOptions = {}): Promise<CallResult> {
    return this.#run(o, true, (md, opts) => {
      const call = this.client.makeBidiStreamRequest(path('Bidi'), raw.serialize, raw.deserialize, md, opts);
      let next = 0;
      const send = (): void => {
        const message = messages[next++];
        if (message === undefined) call.end(); else call.write(message);
      };
      call.on('data', send);
      send();
      return call;
    });
  }

  close(): void {
    this.client.close();
  }

  #run(o: CallOptions, readable: boolean, start: (md: grpc.Metadata, opts: grpc.CallOptions, keep: (m: Buffer) => void) => ClientCall): Promise<CallResult> {
    const id = o.id ?? randomUUID();
    const md = new grpc.Metadata();
    md.set('x-call-id', id);
    if (o.script !== undefined) md.set('x-script', asciiJson(o.script));
    for (const [key, value] of Object.entries(o.metadata ?? {})) md.add(key, value);
    const started = Date.now();
    const result: CallResult = { id, code: -1, details: '', headers: undefined, trailers: new grpc.Metadata(), messages: [], count: 0, bytes: 0, elapsedMs: 0 };
    const keep = (m: Buffer): void => {
      result.count++;
      result.bytes += m.length;
      if (!o.discard) result.messages.push(m);
    };
    return new Promise((resolve) => {
      let status = false;
      let closed = !readable;
      const finish = (): void => { if (status && closed) resolve(result); };
      const call = start(md, o.deadlineMs === undefined ? {} : { deadline: started + o.deadlineMs }, keep);
      call.on('metadata', (headers: grpc.Metadata) => { result.headers = headers; });
      call.on('status', (s: grpc.StatusObject) => {
        Object.assign(result, { code: s.code, details: s.details, trailers: s.metadata, elapsedMs: Date.now() - started });
        status = true;
        finish();
      });
      const events = call as unknown as EventEmitter; // every call type is one; the union's typings disagree
      events.on('error', () => { /* the status says it */ });
      if (readable) {
        events.on('data', keep);
        // 'end' once every message was read; 'close' if destroyed (a duplex whose writing side is
        // still open ends without closing).
        const ended = (): void => { closed = true; finish(); };
        events.once('end', ended);
        events.once('close', ended);
      }
      o.onCall?.(call);
    });
  }
}

/** JSON with every non-ASCII character escaped: metadata text values are printable ASCII. */
const asciiJson = (value: unknown): string => JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Headers grpc-js reports as metadata that no application set. */
const TRANSPORT = new Set(['content-type', 'date']);

/** Metadata as a plain object (-bin values base64), transport headers left out, for exact comparisons. */
export function plain(md: grpc.Metadata | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, values] of Object.entries(md?.toJSON() ?? {})) {
    if (!TRANSPORT.has(key)) out[key] = values.map((v) => Buffer.isBuffer(v) ? v.toString('base64') : String(v));
  }
  return out;
}
