// The one unary method the gRPC benchmark calls: raw bytes in and out (no protobuf), so neither the
// load client nor the upstream spends CPU encoding messages, and what is measured is the transport.
import type { ServiceDefinition } from '@grpc/grpc-js';

export const ECHO_PATH = '/petrel.bench.Bench/Echo';

const identity = (b: Buffer): Buffer => b;

export const BENCH_SERVICE: ServiceDefinition = {
  Echo: {
    path: ECHO_PATH, requestStream: false, responseStream: false,
    requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
  },
};
