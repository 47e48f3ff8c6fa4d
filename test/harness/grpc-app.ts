// A real @grpc/grpc-js server for the gRPC tests: service /petrel.test.Echo with all four call types,
// raw Buffer messages (no protobuf compiler), plaintext HTTP/2 on a free loopback port. Each call
// carries its script in request metadata, so a call behaves the same however many sidecars and
// retries it crosses, in this process or in another (see `serve` at the bottom):
//   x-call-id   names the logical call: its attempts are counted by it (every retry carries it)
//   x-script    JSON Script: fail N times with a status, then answer; sleep; stream; trailers
// Every request key starting with x-echo- (text or -bin) comes back as response metadata, and a
// successful end carries trailer x-attempt: N. The app records every call it saw: its metadata, the
// deadline it arrived with, the messages both ways, and whether it was cancelled (its HTTP/2 stream
// closed before the server wrote a status: a client's cancel or an upstream reset reached it).
import * as grpc from '@grpc/grpc-js';
import type { ServerHttp2Stream } from 'node:http2';

export const SERVICE = 'petrel.test.Echo';
export type Method = 'Unary' | 'ServerStream' | 'ClientStream' | 'Bidi';
export const path = (method: Method): string => `/${SERVICE}/${method}`;

export const raw = { serialize: (b: Buffer): Buffer => b, deserialize: (b: Buffer): Buffer => b };
/** Message size limits both ends use: the 16 MiB tests need more than grpc-js's 4 MiB default. */
export const MESSAGE_LIMITS = { 'grpc.max_receive_message_length': 64 << 20, 'grpc.max_send_message_length': 64 << 20 };

export interface Script {
  /** The status the failing attempts end with (trailers-only unless afterMessages > 0). */
  fail?: { code: number; details?: string; metadata?: Record<string, string>; afterMessages?: number };
  /** Attempts 1..failTimes fail; every attempt fails when absent (with `fail` set). */
  failTimes?: number;
  /** Trailers of a successful end; a key ending in -bin takes base64. */
  trailers?: Record<string, string>;
  /** Wait this long before answering; a cancelled call stops waiting. */
  sleepMs?: number;
  /**
   * Do not end the call when its deadline passes (grpc-js arms a timer that answers DEADLINE_EXCEEDED
   * by itself): only a reset from outside ends it then, so a test sees whether one came.
   */
  ignoreDeadline?: boolean;
  /** ServerStream: this many messages of messageBytes each (default: one echo of the request). */
  messages?: number;
  messageBytes?: number;
}

export interface ServerCall {
  readonly id: string;
  readonly method: Method;
  /** 1 for the first call with this id, 2 for its retry, ... */
  readonly attempt: number;
  readonly metadata: grpc.Metadata;
  readonly authority: string;
  /** The connection it came on (the client's address:port): distinct peers are distinct connections. */
  readonly peer: string;
  /** Milliseconds left to the call's deadline (its grpc-timeout) when the handler started. */
  readonly timeoutMs: number | undefined;
  readonly startedAt: number;
  messagesIn: number;
  bytesIn: number;
  /** Messages the handler wrote that the HTTP/2 stream accepted (flow control let through). */
  messagesOut: number;
  /** The handler waits for 'drain': the stream's flow control holds it back. */
  writeBlocked: boolean;
  /** The grpc-status the server wrote (its handler or grpc-js's own deadline timer). */
  status: number | undefined;
  /** The stream closed before the server wrote a status: the call was cancelled from outside. */
  cancelled: boolean;
  /** RST_STREAM code when the stream was reset (8 = CANCEL). */
  rstCode: number | undefined;
  closedAt: number | undefined;
  /** Resolves when the call's HTTP/2 stream has closed. */
  readonly closed: Promise<void>;
}

export interface GrpcApp {
  readonly server: grpc.Server;
  readonly port: number;
  readonly address: string;
  readonly calls: ServerCall[];
  /** The calls with this x-call-id, in arrival order. */
  attempts(id: string): ServerCall[];
  /** Calls whose stream is still open. */
  open(): ServerCall[];
  close(): Promise<void>;
}

export interface GrpcAppInput {
  host?: string;
  port?: number;
  /** grpc-js server options, e.g. grpc.max_connection_age_ms. */
  options?: grpc.ServerOptions;
}

/** The grpc-js call under a handler's call object: it keeps the HTTP/2 stream and the deadline timer. */
interface BaseCall {
  stream: ServerHttp2Stream;
  deadlineTimer?: NodeJS.Timeout;
}

/** grpc-js keeps these private; the app reads them to tell a reset from a status, and to ignore a deadline. */
function baseCallOf(call: object): BaseCall {
  let inner = (call as { call?: object }).call;
  for (let depth = 0; inner !== undefined && depth < 4; depth++) {
    if (typeof (inner as Partial<BaseCall>).stream?.respond === 'function') return inner as BaseCall;
    inner = (inner as { nextCall?: object }).nextCall;
  }
  throw new Error('grpc-app: no HTTP/2 stream under the grpc-js call (grpc-js internals changed?)');
}

function statusWritten(stream: ServerHttp2Stream): number | undefined {
  const value = stream.sentTrailers?.['grpc-status'] ?? stream.sentHeaders?.['grpc-status'];
  return value === undefined ? undefined : Number(value);
}

function toMetadata(entries: Record<string, string> | undefined, into = new grpc.Metadata()): grpc.Metadata {
  for (const [key, value] of Object.entries(entries ?? {})) into.add(key, key.endsWith('-bin') ? Buffer.from(value, 'base64') : value);
  return into;
}

function echoedMetadata(request: grpc.Metadata): grpc.Metadata {
  const out = new grpc.Metadata();
  for (const [key, values] of Object.entries(request.toJSON())) {
    if (key.startsWith('x-echo-')) for (const value of values) out.add(key, value);
  }
  return out;
}

type AnyCall = grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerReadableStream<Buffer, Buffer> | grpc.ServerWritableStream<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer>;

export async function startGrpcApp(input: GrpcAppInput = {}): Promise<GrpcApp> {
  const calls: ServerCall[] = [];
  const byId = new Map<string, ServerCall[]>();

  function record(method: Method, call: AnyCall): { rec: ServerCall; script: Script } {
    const base = baseCallOf(call);
    const stream = base.stream;
    const id = String(call.metadata.get('x-call-id')[0] ?? '');
    const script = JSON.parse(String(call.metadata.get('x-script')[0] ?? '{}')) as Script;
    if (script.ignoreDeadline) clearTimeout(base.deadlineTimer);
    const list = byId.get(id) ?? [];
    byId.set(id, list);
    const deadline = call.getDeadline();
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    let markClosed = (): void => {};
    const rec: ServerCall = {
      id, method, attempt: list.length + 1, metadata: call.metadata.clone(), authority: call.getHost(), peer: call.getPeer(),
      timeoutMs: Number.isFinite(deadlineMs) ? deadlineMs - Date.now() : undefined, startedAt: Date.now(),
      messagesIn: 0, bytesIn: 0, messagesOut: 0, writeBlocked: false, status: undefined, cancelled: false, rstCode: undefined, closedAt: undefined,
      closed: new Promise((resolve) => { markClosed = resolve; }),
    };
    list.push(rec);
    calls.push(rec);
    const onClose = (): void => {
      rec.status = statusWritten(stream);
      rec.cancelled = rec.status === undefined;
      rec.rstCode = stream.rstCode;
      rec.closedAt = Date.now();
      markClosed();
    };
    if (stream.closed) onClose(); else stream.once('close', onClose);
    return { rec, script };
  }

  const failing = (rec: ServerCall, script: Script): Script['fail'] =>
    script.fail !== undefined && (script.failTimes === undefined || rec.attempt <= script.failTimes) ? script.fail : undefined;
  const failure = (fail: NonNullable<Script['fail']>): Partial<grpc.StatusObject> =>
    ({ code: fail.code, details: fail.details ?? '', metadata: toMetadata(fail.metadata) });
  const successTrailers = (rec: ServerCall, script: Script): grpc.Metadata =>
    toMetadata({ ...script.trailers, 'x-attempt': String(rec.attempt) });
  /** Resolves after ms, or as soon as the call's stream closes. */
  const sleep = (rec: ServerCall, ms: number | undefined): Promise<void> => !ms ? Promise.resolve()
    : new Promise((resolve) => { const t = setTimeout(resolve, ms); void rec.closed.then(() => { clearTimeout(t); resolve(); }); });

  /** Writes, waiting for 'drain' when the stream pushes back; counts what went through. */
  async function write(call: grpc.ServerWritableStream<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer>, rec: ServerCall, message: Buffer): Promise<boolean> {
    if (rec.closedAt !== undefined) return false;
    const flowing = call.write(message);
    rec.messagesOut++;
    if (!flowing) {
      rec.writeBlocked = true;
      await Promise.race([new Promise((r) => call.once('drain', r)), rec.closed]);
      rec.writeBlocked = false;
    }
    return rec.closedAt === undefined;
  }

  /** A call with one request message: recorded, then the scripted sleep; undefined if it closed meanwhile. */
  async function single(method: Method, call: grpc.ServerUnaryCall<Buffer, Buffer> | grpc.ServerWritableStream<Buffer, Buffer>) {
    const { rec, script } = record(method, call);
    rec.messagesIn = 1;
    rec.bytesIn = call.request.length;
    await sleep(rec, script.sleepMs);
    return rec.closedAt === undefined ? { rec, script, fail: failing(rec, script) } : undefined;
  }

  const handlers: grpc.UntypedServiceImplementation = {
    Unary: async (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const started = await single('Unary', call);
      if (started === undefined) return;
      const { rec, script, fail } = started;
      if (fail !== undefined) return callback(failure(fail));
      call.sendMetadata(echoedMetadata(call.metadata));
      rec.messagesOut = 1;
      callback(null, call.request, successTrailers(rec, script));
    },
    ServerStream: async (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const started = await single('ServerStream', call);
      if (started === undefined) return;
      const { rec, script, fail } = started;
      if (fail !== undefined && !fail.afterMessages) return call.emit('error', failure(fail));
      call.sendMetadata(echoedMetadata(call.metadata));
      const count = fail?.afterMessages ?? script.messages ?? 1;
      const message = script.messageBytes === undefined ? call.request : Buffer.alloc(script.messageBytes, 0x61);
      for (let i = 0; i < count; i++) if (!await write(call, rec, message)) return;
      if (fail !== undefined) return call.emit('error', failure(fail));
      call.end(successTrailers(rec, script));
    },
    ClientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const { rec, script } = record('ClientStream', call);
      call.on('data', (m: Buffer) => { rec.messagesIn++; rec.bytesIn += m.length; });
      call.on('end', async () => {
        await sleep(rec, script.sleepMs);
        if (rec.closedAt !== undefined) return;
        const fail = failing(rec, script);
        if (fail !== undefined) return callback(failure(fail));
        call.sendMetadata(echoedMetadata(call.metadata));
        rec.messagesOut = 1;
        callback(null, Buffer.from(JSON.stringify({ messages: rec.messagesIn, bytes: rec.bytesIn })), successTrailers(rec, script));
      });
    },
    Bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      const { rec, script } = record('Bidi', call);
      const fail = failing(rec, script);
      if (fail !== undefined && !fail.afterMessages) return call.emit('error', failure(fail));
      call.sendMetadata(echoedMetadata(call.metadata));
      let chain = Promise.resolve(true);
      call.on('data', (m: Buffer) => {
        rec.messagesIn++;
        rec.bytesIn += m.length;
        chain = chain.then((open) => open && write(call, rec, m));
        if (fail !== undefined && rec.messagesIn === fail.afterMessages) void chain.then(() => call.emit('error', failure(fail)));
      });
      call.on('end', () => void chain.then((open) => { if (open && fail === undefined) call.end(successTrailers(rec, script)); }));
    },
  };

  const server = new grpc.Server({ ...MESSAGE_LIMITS, ...input.options });
  const definition: grpc.ServiceDefinition = Object.fromEntries((['Unary', 'ServerStream', 'ClientStream', 'Bidi'] as const).map((method) => [method, {
    path: path(method), requestStream: method === 'ClientStream' || method === 'Bidi', responseStream: method === 'ServerStream' || method === 'Bidi',
    requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize,
  }]));
  server.addService(definition, handlers);
  const host = input.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${input.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, bound) => err ? reject(err) : resolve(bound)));
  return {
    server, port, address: `${host}:${port}`, calls,
    attempts: (id) => byId.get(id) ?? [],
    open: () => calls.filter((c) => c.closedAt === undefined),
    close: () => new Promise((resolve) => {
      server.forceShutdown();
      resolve();
    }),
  };
}

// `node test/harness/grpc-app.ts HOST:PORT` serves the app on its own (the interception test runs it
// in a network namespace) and prints one line when it listens.
if (import.meta.main) {
  const [host, port] = (process.argv[2] ?? '0.0.0.0:50051').split(':');
  const app = await startGrpcApp({ host: host ?? '0.0.0.0', port: Number(port) });
  process.stdout.write(`grpc app listening on ${app.address}\n`);
}
