// gRPC's message framing (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md), shared by
// the demo's ledger app and the demo's gRPC client: each message is a 1-byte compressed flag, a 4-byte
// big-endian length and the message itself. The demo's messages are small JSON documents (a real
// service would send protobuf; the mesh never reads a message, only headers and trailers).

/** The ledger's one unary method. */
export const LEDGER_RECORD_PATH = '/ledger.Ledger/Record';

/** The largest message either side accepts: the demo's messages are a few dozen bytes. */
export const MAX_MESSAGE_BYTES = 4096;

const PREFIX_BYTES = 5;

/** One uncompressed length-prefixed message. */
export function encodeMessage(payload: Buffer): Buffer {
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.writeUInt8(0, 0);
  prefix.writeUInt32BE(payload.length, 1);
  return Buffer.concat([prefix, payload]);
}

/**
 * The message of a unary call's whole body: exactly one uncompressed message of at most
 * MAX_MESSAGE_BYTES, else an Error that says what is wrong with it.
 */
export function decodeMessage(body: Buffer): Buffer | Error {
  if (body.length < PREFIX_BYTES) return new Error(`a gRPC message needs a 5-byte prefix, got ${body.length} bytes`);
  if (body.readUInt8(0) !== 0) return new Error('compressed messages are not supported');
  const length = body.readUInt32BE(1);
  if (length > MAX_MESSAGE_BYTES) return new Error(`message of ${length} bytes exceeds ${MAX_MESSAGE_BYTES}`);
  if (body.length !== PREFIX_BYTES + length) return new Error(`expected one message of ${length} bytes, got ${body.length - PREFIX_BYTES} bytes after the prefix`);
  return body.subarray(PREFIX_BYTES);
}
