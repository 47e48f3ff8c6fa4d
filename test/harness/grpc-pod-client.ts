// A gRPC client inside a test pod: grpc-js with no proxy settings and no authority override, so
// whatever reaches a sidecar got there through iptables. One unary call; prints one JSON result.
//   grpc-pod-client.ts HOST:PORT [SCRIPT_JSON]  -> {"code":0,"details":"OK","trailers":{...},"message":"hello"}
import { EchoClient, plain } from './grpc-client.ts';

const [target, script = '{}'] = process.argv.slice(2);
const client = new EchoClient(target ?? '');
const reply = await client.unary(Buffer.from('hello'), { script: JSON.parse(script), deadlineMs: 10_000 });
client.close();
process.stdout.write(JSON.stringify({ code: reply.code, details: reply.details, trailers: plain(reply.trailers), message: reply.messages[0]?.toString() }));
