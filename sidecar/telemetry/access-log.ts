// The access log: one JSON line per request on stdout, written asynchronously (sonic-boom, via pino's
// destination) so that a slow terminal or log shipper never blocks the request path. Modes: `off`,
// `errors` (default: a 5xx, or any flag the sidecar set: RL, UO, URX, DC, ...) and `all`.
import { pino } from 'pino';
import { NO_FLAGS } from '../proxy/flags.ts';

export type AccessLogMode = 'off' | 'errors' | 'all';

export interface AccessLogRecord {
  time: string;
  trace_id: string;
  request_id: string;
  direction: string;
  service: string;
  peer_service: string;
  /** Inbound: the caller's SPIFFE identity from its verified certificate, "" for plaintext; outbound: "". */
  peer_identity: string;
  /** "true" when the call crossed mesh mTLS (the `tls` metric label). */
  tls: string;
  method: string;
  authority: string;
  path: string;
  route: string;
  status: number;
  /** The call's grpc-status, "" for plain HTTP. */
  grpc_status: string;
  flags: string;
  upstream: string;
  attempts: number;
  duration_ms: number;
  /** The request's explanation (petrel-explain, or a tap with --explain), when one was recorded. */
  explain?: string;
}

/** The trace id of a W3C traceparent header ("00-<trace id>-<span id>-<flags>"), or "". */
export function traceIdOf(traceparent: string | string[] | undefined): string {
  if (typeof traceparent !== 'string' || traceparent.length < 55) return '';
  const id = traceparent.slice(3, 35);
  return /^[0-9a-f]{32}$/.test(id) && id !== '00000000000000000000000000000000' ? id : '';
}

export class AccessLog {
  readonly mode: AccessLogMode;
  readonly #write: (line: string) => void;

  constructor(mode: AccessLogMode, write?: (line: string) => void) {
    this.mode = mode;
    if (write !== undefined) this.#write = write;
    else {
      const destination = mode === 'off' ? undefined : pino.destination({ dest: 1, sync: false });
      this.#write = (line) => destination?.write(line);
      if (destination) process.once('exit', () => destination.flushSync());
    }
  }

  /** Whether a request with this outcome gets a line. */
  wants(status: number, flags: string): boolean {
    if (this.mode === 'off') return false;
    return this.mode === 'all' || status >= 500 || flags !== NO_FLAGS;
  }

  traceId(traceparent: string | string[] | undefined): string {
    return traceIdOf(traceparent);
  }

  write(record: AccessLogRecord): void {
    this.#write(`${JSON.stringify(record)}\n`);
  }
}
