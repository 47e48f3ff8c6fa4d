// Step: the request body as the retry loop needs it. When the route may retry, a body up to
// 64 KiB is buffered so it can be sent again; a larger one streams and is never resent. An HTTP/2
// body is not waited for: it streams at once with a replay copy of up to 64 KiB (a bidirectional
// gRPC stream would otherwise wait forever for a client that waits for an answer).
import { MAX_REPLAY_BODY_BYTES } from '../policy/retry-policy.ts';
import type { Exchange } from '../proxy/exchange.ts';
import { bufferBody, NO_BODY } from '../proxy/request-body.ts';
import { ReplayBody } from '../proxy/replay-body.ts';
import type { Step } from './step.ts';

export class BodyStep implements Step {
  /** True when an attempt may be resent: then the body is buffered for replay. */
  readonly #replay: boolean;
  /** The same for HTTP/2 bodies, whose replay copy costs no wait (the inbound side keeps one). */
  readonly #replayH2: boolean;
  readonly #next: Step;

  constructor(replay: boolean, next: Step, replayH2 = replay) {
    this.#replay = replay;
    this.#replayH2 = replayH2;
    this.#next = next;
  }

  run(exchange: Exchange): void {
    if (!exchange.hasBody || exchange.upgrade !== undefined) {
      exchange.body = NO_BODY;
      return this.#next.run(exchange);
    }
    if (exchange.h2 !== undefined && this.#replayH2) {
      exchange.body = { kind: 'replay', replay: new ReplayBody(exchange.bodySource, MAX_REPLAY_BODY_BYTES) };
      return this.#next.run(exchange);
    }
    if (!this.#replay || exchange.h2 !== undefined) {
      exchange.body = { kind: 'stream', stream: exchange.bodySource };
      return this.#next.run(exchange);
    }
    const next = this.#next;
    bufferBody(exchange.bodySource, MAX_REPLAY_BODY_BYTES, (body) => {
      exchange.body = body;
      next.run(exchange);
    });
  }
}
