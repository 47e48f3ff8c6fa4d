// Whether a destination is this sidecar itself. A request that names the sidecar's own listener
// would be forwarded back into it, again and again, until memory runs out; the address can be
// spelled in many ways (0x7f000001, 2130706433, 0177.0.0.1, 127.1, [::ffff:7f00:1], the pod's own
// IP, 0.0.0.0), so hosts are compared after WHATWG URL parsing has turned them into canonical
// addresses, never as text.
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/** How long the list of this host's interface addresses is trusted before it is read again. */
const INTERFACES_TTL_MS = 10_000;

/** The canonical IP of a host as an HTTP client would connect to it, or undefined for a name. */
export function canonicalIp(host: string): string | undefined {
  let hostname: string;
  try {
    hostname = new URL(`http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}/`).hostname;
  } catch {
    return undefined;
  }
  if (hostname.startsWith('[')) {
    const v6 = hostname.slice(1, -1);
    const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
    if (mapped === null) return v6;
    const hi = parseInt(mapped[1] as string, 16);
    const lo = parseInt(mapped[2] as string, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return isIP(hostname) === 4 ? hostname : undefined;
}

function isLoopbackOrUnspecified(ip: string): boolean {
  return ip.startsWith('127.') || ip === '0.0.0.0' || ip === '::1' || ip === '::';
}

export class SelfAddresses {
  readonly #ports: Set<number>;
  #local = new Set<string>();
  #readAt = -Infinity;

  /** `ports`: every port this sidecar listens on (inbound, outbound, admin). */
  constructor(ports: Iterable<number>) {
    this.#ports = new Set();
    this.addPorts(ports);
  }

  /** Adds the ports listeners actually bound (a port given as 0 is known only then). */
  addPorts(ports: Iterable<number>): void {
    for (const port of ports) if (port > 0) this.#ports.add(port);
  }

  /** True when `port` is one of this sidecar's listener ports. */
  hasPort(port: number): boolean {
    return this.#ports.has(port);
  }

  /** True when host:port reaches one of this sidecar's own listeners. */
  isSelf(host: string, port: number): boolean {
    if (!this.#ports.has(port)) return false;
    const lower = host.toLowerCase();
    if (lower === 'localhost' || lower.endsWith('.localhost') || lower === 'localhost.') return true;
    const ip = canonicalIp(lower);
    if (ip === undefined) return false;
    return isLoopbackOrUnspecified(ip) || this.#localAddresses().has(ip);
  }

  /** True when a peer address is this host's own (loopback or one of its interfaces). */
  isLocalPeer(address: string | undefined): boolean {
    if (address === undefined) return false;
    const ip = address.startsWith('::ffff:') ? address.slice(7) : address;
    return ip.startsWith('127.') || ip === '::1' || this.#localAddresses().has(ip);
  }

  #localAddresses(): ReadonlySet<string> {
    const now = Date.now();
    if (now - this.#readAt > INTERFACES_TTL_MS) {
      const local = new Set<string>();
      for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) local.add(a.address);
      this.#local = local;
      this.#readAt = now;
    }
    return this.#local;
  }
}
