// The gRPC upstream of the benchmark: a grpc-js server over plaintext HTTP/2 whose one unary method
// answers every call with the same small reply. Usage: node grpc-upstream.js PORT
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { BENCH_SERVICE } from './grpc-service.ts';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error('usage: grpc-upstream.js PORT');
const REPLY = Buffer.from('ok\n');

const server = new Server({ 'grpc.max_concurrent_streams': 1000, 'grpc.enable_channelz': 0 });
server.addService(BENCH_SERVICE, {
  Echo(_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) { callback(null, REPLY); },
});
server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
});
process.on('SIGTERM', () => server.forceShutdown());
