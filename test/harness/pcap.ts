// A minimal reader of the classic pcap files `tcpdump -w` writes (Ethernet link, IPv4, TCP): each
// TCP segment's addresses, ports and payload, and every flow's payload joined in capture order, so
// a test can look for bytes both in single packets and across segment boundaries.
import { readFileSync } from 'node:fs';

export interface TcpSegment {
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export interface Capture {
  /** The file's raw bytes, headers and all. */
  raw: Buffer;
  /** Every packet in the file, TCP or not. */
  packets: number;
  segments: TcpSegment[];
  /** Per direction of each TCP connection ("src:port>dst:port"), the payloads concatenated in capture order. */
  streams: Map<string, Buffer>;
}

const LINKTYPE_ETHERNET = 1;

export function readPcap(file: string): Capture {
  const raw = readFileSync(file);
  if (raw.length < 24) throw new Error(`${file}: ${raw.length} bytes, not even a pcap header`);
  const magic = raw.readUInt32LE(0);
  let le: boolean;
  if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) le = true;
  else if (raw.readUInt32BE(0) === 0xa1b2c3d4 || raw.readUInt32BE(0) === 0xa1b23c4d) le = false;
  else throw new Error(`${file}: not a pcap file (magic ${magic.toString(16)})`);
  const u32 = (offset: number) => (le ? raw.readUInt32LE(offset) : raw.readUInt32BE(offset));
  const linkType = u32(20);
  if (linkType !== LINKTYPE_ETHERNET) throw new Error(`${file}: link type ${linkType}, only Ethernet is read`);
  const segments: TcpSegment[] = [];
  let packets = 0;
  let offset = 24;
  while (offset + 16 <= raw.length) {
    const captured = u32(offset + 8);
    const original = u32(offset + 12);
    const frame = raw.subarray(offset + 16, offset + 16 + captured);
    offset += 16 + captured;
    packets++;
    if (captured < original) throw new Error(`${file}: a packet was cut at ${captured} of ${original} bytes (capture with -s 0)`);
    const segment = tcpOf(frame);
    if (segment !== undefined) segments.push(segment);
  }
  const parts = new Map<string, Buffer[]>();
  for (const s of segments) {
    if (s.payload.length === 0) continue;
    const key = `${s.src}:${s.srcPort}>${s.dst}:${s.dstPort}`;
    const list = parts.get(key) ?? [];
    list.push(s.payload);
    parts.set(key, list);
  }
  const streams = new Map([...parts].map(([key, list]) => [key, Buffer.concat(list)]));
  return { raw, packets, segments, streams };
}

function tcpOf(frame: Buffer): TcpSegment | undefined {
  if (frame.length < 14 || frame.readUInt16BE(12) !== 0x0800) return undefined; // IPv4 only
  const ip = frame.subarray(14);
  if (ip.length < 20 || ip[0]! >> 4 !== 4 || ip[9] !== 6) return undefined; // TCP only
  const ihl = (ip[0]! & 0x0f) * 4;
  const total = ip.readUInt16BE(2);
  const tcp = ip.subarray(ihl, total);
  if (tcp.length < 20) return undefined;
  const dataOffset = (tcp[12]! >> 4) * 4;
  return {
    src: [...ip.subarray(12, 16)].join('.'),
    dst: [...ip.subarray(16, 20)].join('.'),
    srcPort: tcp.readUInt16BE(0),
    dstPort: tcp.readUInt16BE(2),
    payload: Buffer.from(tcp.subarray(dataOffset)),
  };
}
