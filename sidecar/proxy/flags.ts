// Response flags (Envoy's vocabulary). One stable code per failure, used the same way in the
// `petrel-error` response header, the JSON body, the `flags` metric label and the log field.

export interface FlagInfo {
  /** Status of the locally generated response. */
  readonly status: number;
  /** Stable machine-readable code, for logs and programmatic handling. */
  readonly code: string;
  readonly meaning: string;
}

export const FLAGS = {
  UF: { status: 503, code: 'UPSTREAM_CONNECT_FAILURE', meaning: 'could not connect to the upstream' },
  UC: { status: 502, code: 'UPSTREAM_CONNECTION_CLOSED', meaning: 'the upstream closed or reset the connection' },
  UT: { status: 504, code: 'UPSTREAM_TIMEOUT', meaning: 'the upstream did not answer in time' },
  UO: { status: 503, code: 'UPSTREAM_OVERFLOW', meaning: 'circuit open or concurrency limit reached' },
  UH: { status: 503, code: 'NO_HEALTHY_UPSTREAM', meaning: 'the service has no healthy endpoint' },
  URX: { status: 503, code: 'RETRIES_EXHAUSTED', meaning: 'every allowed attempt failed' },
  RL: { status: 429, code: 'RATE_LIMITED', meaning: 'the rate limit was reached' },
  NR: { status: 404, code: 'NO_ROUTE', meaning: 'no route for this request' },
  NC: { status: 500, code: 'NO_BACKEND', meaning: 'the route rule\'s backends cannot be resolved' },
  FI: { status: 503, code: 'FAULT_ABORT', meaning: 'aborted by fault injection' },
  DI: { status: 200, code: 'FAULT_DELAY', meaning: 'delayed by fault injection' },
  DC: { status: 499, code: 'DOWNSTREAM_CLOSED', meaning: 'the client went away (logged only)' },
  DPE: { status: 400, code: 'DOWNSTREAM_PROTOCOL_ERROR', meaning: 'the request was not valid HTTP/1.1' },
  RBAC: { status: 403, code: 'ACCESS_DENIED', meaning: 'denied by an AccessPolicy (or plaintext where mTLS is strict)' },
} as const satisfies Record<string, FlagInfo>;

export type Flag = keyof typeof FLAGS;

/** The flags label value when a request completed without a local decision. */
export const NO_FLAGS = '-';

/** An error the proxy answers with a local reply. */
export class ProxyError extends Error {
  readonly flag: Flag;
  readonly status: number;
  constructor(flag: Flag, message: string, status: number = FLAGS[flag].status, options?: ErrorOptions) {
    super(message, options);
    this.flag = flag;
    this.status = status;
  }
  get code(): string {
    return FLAGS[this.flag].code;
  }
}
