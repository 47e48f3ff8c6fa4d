// The demo's gRPC load: unary calls to the ledger service over one HTTP/2 connection (h2c) to the web
// sidecar's outbound listener, with `:authority: ledger` naming the service as Host does for HTTP/1.1.
// A minimal client on node:http2, so the demo runs without @grpc/grpc-js: it reads grpc-status from
// the trailers, or from the headers of a trailers-only response.
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { Outcome } from './demo.ts';
import { decodeMessage, encodeMessage, LEDGER_RECORD_PATH, MAX_MESSAGE_BYTES } from './grpc-wire.ts';

/** How long one call may take, sent as grpc-timeout and enforced here too. */
const CALL_TIMEOUT_MS = 2000;

export interface CallResult {
  /** The call's grpc-status; undefined when the call ended without one. */
  grpcStatus: number | undefined;
  /** The petrel-error flag of a reply the mesh made itself. */
  flag: string | undefined;
  /** The reply message of a call that succeeded. */
  reply: Buffer | undefined;
  /** Why the call has no status: a connection error, a timeout, a non-200 :status, a malformed reply. */
  problem: string | undefined;
}

const header = (h: IncomingHttpHeaders | undefined, name: string): string | undefined => {
  const v = h?.[name];
  return typeof v === 'string' ? v : undefined;
};

/** One unary call to `LEDGER_RECORD_PATH` on `session`; never rejects. */
export function callLedger(session: ClientHttp2Session, authority: string, request: object): Promise<CallResult> {
  return new Promise((resolve) => {
    const result: CallResult = { grpcStatus: undefined, flag: undefined, reply: undefined, problem: undefined };
    let settled = false;
    const finish = (problem?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (problem !== undefined && result.grpcStatus === undefined) result.problem = problem;
      resolve(result);
    };
    let stream: ReturnType<ClientHttp2Session['request']> | undefined;
    const timer = setTimeout(() => {
      stream?.close(constants.NGHTTP2_CANCEL);
      finish(`no answer within ${CALL_TIMEOUT_MS} ms`);
    }, CALL_TIMEOUT_MS);
    try {
      stream = session.request({
        ':method': 'POST', ':path': LEDGER_RECORD_PATH, ':authority': authority,
        'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': `${CALL_TIMEOUT_MS}m`,
      });
    } catch (err) {
      finish(`client error: ${(err as Error).message}`);
      return;
    }
    let headers: IncomingHttpHeaders | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('response', (h) => { headers = h; });
    stream.on('trailers', (t) => { trailers = t; });
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_MESSAGE_BYTES + 5) chunks.push(c);
    });
    stream.on('error', (err) => finish(`client error: ${err.message}`));
    stream.on('close', () => {
      if (headers === undefined) return finish('client error: the stream closed without a response');
      result.flag = header(headers, 'petrel-error');
      const httpStatus = Number(headers[':status']);
      if (httpStatus !== 200) return finish(`HTTP ${httpStatus}`);
      // A trailers-only response carries its status in the headers.
      const status = header(trailers ?? headers, 'grpc-status');
      if (status === undefined || !/^[0-9]{1,2}$/.test(status)) return finish('no grpc-status');
      result.grpcStatus = Number(status);
      if (result.grpcStatus === 0) {
        const reply = decodeMessage(Buffer.concat(chunks));
        if (reply instanceof Error) {
          result.grpcStatus = undefined;
          return finish(`bad reply: ${reply.message}`);
        }
        result.reply = reply;
      }
      finish();
    });
    stream.end(encodeMessage(Buffer.from(JSON.stringify(request))));
  });
}

/** The summary's name for a call's outcome: "grpc-status 14", "grpc-status 14 URX", or the problem's kind. */
function failureOf(r: CallResult): string | undefined {
  if (r.grpcStatus === 0) return undefined;
  if (r.grpcStatus !== undefined) return `grpc-status ${r.grpcStatus}${r.flag ? ` ${r.flag}` : ''}`;
  return (r.problem ?? 'no grpc-status').split(':')[0];
}

export interface GrpcDriveOptions {
  /** The web sidecar's outbound listener. */
  port: number;
  authority: string;
  count: number;
  concurrency: number;
  /** No new call starts after this long. */
  limitMs: number;
  tick: (done: Outcome[]) => void;
}

/** `count` calls, `concurrency` at a time, all on one HTTP/2 connection: the per-call balancing is the sidecar's. */
export async function driveGrpc(o: GrpcDriveOptions): Promise<Outcome[]> {
  const session = connect(`http://127.0.0.1:${o.port}`);
  session.on('error', () => {}); // each call in flight reports it as its own error
  const outcomes: Outcome[] = [];
  const deadline = Date.now() + o.limitMs;
  let next = 0;
  const timer = setInterval(() => o.tick(outcomes), 1000);
  try {
    await Promise.all(Array.from({ length: o.concurrency }, async () => {
      while (next < o.count && Date.now() < deadline) {
        const amount = ++next;
        const started = performance.now();
        const r = await callLedger(session, o.authority, { amount });
        outcomes.push({ ok: r.grpcStatus === 0, failure: failureOf(r), ms: performance.now() - started });
      }
    }));
  } finally {
    clearInterval(timer);
    session.destroy();
  }
  return outcomes;
}

/** Calls a gRPC app directly until it answers with any grpc-status, or throws after `timeoutMs`. */
export async function waitForGrpc(port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const session = connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    const r = await callLedger(session, 'ledger', { amount: 0 });
    session.destroy();
    if (r.grpcStatus !== undefined) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`the gRPC app on 127.0.0.1:${port} did not answer within ${timeoutMs} ms`);
}
