// What a proxy needs to know about gRPC (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md):
// how a call is recognised, how its deadline travels (grpc-timeout), how its outcome is read
// (grpc-status, in the headers of a trailers-only response or in the trailers) and how a local
// decision is told to a gRPC client (a trailers-only response with a mapped status).
import { FLAGS, type Flag } from './flags.ts';

/** gRPC status codes the mesh reads or writes by name. */
export const GRPC = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
} as const;

/** The `grpc_status` metric label of each code, built once; anything else is "other". */
const STATUS_LABELS: readonly string[] = Array.from({ length: 17 }, (_, i) => String(i));

/** The bounded metric label of a grpc-status value ("" when the call had none). */
export function grpcStatusLabel(status: number | undefined): string {
  if (status === undefined) return '';
  return STATUS_LABELS[status] ?? 'other';
}

/** True for a request whose content-type says gRPC (application/grpc, application/grpc+proto, ...). */
export function isGrpcContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && contentType.startsWith('application/grpc')
    && (contentType.length === 16 || contentType[16] === '+' || contentType[16] === ';');
}

/** grpc-status as a number, or undefined when absent or not a non-negative integer. */
export function parseGrpcStatus(value: string | string[] | number | undefined): number | undefined {
  if (typeof value === 'number') return value;
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || !/^[0-9]{1,3}$/.test(text)) return undefined;
  return Number(text);
}

/** Statuses that say the endpoint failed, for its breaker and `petrel stat` (as Linkerd classifies them). */
export const GRPC_FAILURE_STATUSES: readonly number[] = [GRPC.UNKNOWN, GRPC.DEADLINE_EXCEEDED, GRPC.INTERNAL, GRPC.UNAVAILABLE, GRPC.DATA_LOSS];

export function grpcStatusIsFailure(status: number): boolean {
  return GRPC_FAILURE_STATUSES.includes(status);
}

const TIMEOUT_UNITS_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * grpc-timeout ("1-8 digits + unit H/M/S/m/u/n") in milliseconds, or undefined when absent or
 * malformed (a malformed one is ignored rather than trusted, as grpc-go does).
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.length < 2 || text.length > 9) return undefined;
  const unit = TIMEOUT_UNITS_MS[text[text.length - 1] as string];
  const digits = text.slice(0, -1);
  if (unit === undefined || !/^[0-9]+$/.test(digits)) return undefined;
  return Number(digits) * unit;
}

/** A deadline in milliseconds as grpc-timeout; at most 8 digits, so very long ones go in seconds. */
export function formatGrpcTimeout(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  return whole < 100_000_000 ? `${whole}m` : `${Math.min(99_999_999, Math.ceil(whole / 1000))}S`;
}

/** The gRPC status a local reply with this flag (and HTTP status) carries. */
export function grpcStatusForFlag(flag: Flag, status: number): number {
  switch (flag) {
    case 'UT': return GRPC.DEADLINE_EXCEEDED;
    case 'RL': return GRPC.RESOURCE_EXHAUSTED;
    case 'NR': return GRPC.UNIMPLEMENTED;
    case 'DPE': return status === 431 ? GRPC.RESOURCE_EXHAUSTED : GRPC.INTERNAL;
    case 'DC': return GRPC.CANCELLED;
    case 'FI': return grpcStatusForHttp(status);
    default: return FLAGS[flag].status >= 500 ? GRPC.UNAVAILABLE : grpcStatusForHttp(status);
  }
}

/** The gRPC status for an HTTP status, as the gRPC spec maps them (http-grpc-status-mapping.md). */
export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 400: return GRPC.INTERNAL;
    case 401: return GRPC.UNAUTHENTICATED;
    case 403: return GRPC.PERMISSION_DENIED;
    case 404: return GRPC.UNIMPLEMENTED;
    case 429: case 502: case 503: case 504: return GRPC.UNAVAILABLE;
    default: return GRPC.UNKNOWN;
  }
}

/** grpc-message is percent-encoded UTF-8 (anything outside printable ASCII, and "%"). */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * grpc-retry-pushback-ms: the server's own word on when to retry. A non-negative integer is the
 * delay; anything else present (negative, garbage) means "do not retry" (gRPC A6).
 */
export function parsePushback(value: string | string[] | undefined): number | 'never' | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  return /^[0-9]{1,9}$/.test(text) ? Number(text) : 'never';
}
