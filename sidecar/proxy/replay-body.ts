// A request body that streams to its attempt at once and keeps a copy of what it sent, up to a
// limit, so a retry can send it again (linkerd's ReplayBody). Waiting for the whole body first
// would deadlock a bidirectional stream whose client waits for an answer before it sends more;
// with this, a call is sent as it arrives and stays retryable while everything it has sent (all of
// it, so far) fits the limit. Past the limit the copy is dropped: the call can no longer be retried.
import type { Readable, Writable } from 'node:stream';

export class ReplayBody {
  readonly #source: Readable;
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #size = 0;
  #overflowed = false;
  #ended = false;
  #sink: Writable | undefined;
  readonly #resume = (): void => {
    this.#source.resume();
  };

  constructor(source: Readable, limit: number) {
    this.#source = source;
    this.#limit = limit;
    source.pause();
    source.on('data', (chunk: Buffer) => this.#onData(chunk));
    source.once('end', () => {
      this.#ended = true;
      const sink = this.#sink;
      if (sink !== undefined && !sink.destroyed) sink.end();
    });
  }

  /** Whether everything sent so far is still held, so that another attempt can be given all of it. */
  get replayable(): boolean {
    return !this.#overflowed;
  }

  /** Sends what was read so far, then the rest as it comes, to `sink` (a new attempt's stream). */
  attach(sink: Writable): void {
    this.#sink = sink;
    for (const chunk of this.#chunks) sink.write(chunk);
    if (this.#ended) sink.end();
    else this.#source.resume();
  }

  #onData(chunk: Buffer): void {
    if (!this.#overflowed) {
      this.#size += chunk.length;
      if (this.#size > this.#limit) {
        this.#overflowed = true;
        this.#chunks = [];
      } else this.#chunks.push(chunk);
    }
    const sink = this.#sink;
    if (sink === undefined || sink.destroyed || sink.writableEnded) {
      // Between attempts: hold the client until the next one attaches.
      this.#source.pause();
      return;
    }
    if (!sink.write(chunk)) {
      this.#source.pause();
      sink.once('drain', this.#resume);
    }
  }
}
