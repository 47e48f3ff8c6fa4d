// A request body as the retry loop needs it: absent, buffered (small enough to send again), a
// stream that can be sent once, or (HTTP/2) a stream replayed from a bounded copy (replay-body.ts).
// Buffering stops at a limit; what was read by then is sent ahead of the rest of the stream, so a
// large body loses nothing, it just cannot be retried.
import { PassThrough, type Readable } from 'node:stream';
import type { ReplayBody } from './replay-body.ts';

export type RequestBody =
  | { readonly kind: 'none' }
  | { readonly kind: 'buffered'; readonly data: Buffer }
  | { readonly kind: 'stream'; readonly stream: Readable }
  | { readonly kind: 'replay'; readonly replay: ReplayBody };

export const NO_BODY: RequestBody = { kind: 'none' };

/** Whether the body can be sent again on a retry. */
export function replayable(body: RequestBody): boolean {
  return body.kind === 'replay' ? body.replay.replayable : body.kind !== 'stream';
}

/**
 * Reads `req` until it ends or passes `limit` bytes, then calls `done` once: with the whole body
 * buffered, or with a stream of everything (what was read, then the rest). `done` is not called if
 * the request errors first (the client went away).
 */
export function bufferBody(req: Readable, limit: number, done: (body: RequestBody) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    if (size <= limit) return;
    cleanup();
    req.pause();
    const stream = new PassThrough();
    for (const c of chunks) stream.write(c);
    req.pipe(stream);
    req.resume();
    req.once('error', (err) => stream.destroy(err));
    done({ kind: 'stream', stream });
  };
  const onEnd = (): void => {
    cleanup();
    done({ kind: 'buffered', data: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size) });
  };
  const cleanup = (): void => {
    req.off('data', onData);
    req.off('end', onEnd);
  };
  req.on('data', onData);
  req.on('end', onEnd);
}
