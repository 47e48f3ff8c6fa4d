// The destination a connection had before iptables redirected it to a sidecar listener, read with
// getsockopt(SO_ORIGINAL_DST) through the Node-API addon in sidecar/native (built by `npm run build`).
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';

export interface OriginalDestination {
  host: string;
  port: number;
  /** "host:port", IPv6 hosts in brackets: the key endpoints are looked up by. */
  address: string;
}

interface Addon {
  originalDestination(fd: number): [host: string, port: number, family: number] | null;
}

const ADDON_PATH = new URL('../../native/original-dst.node', import.meta.url);
let addon: Addon | null | undefined;

/** The addon, or null (with the reason) where it is not built: then no connection counts as redirected. */
export function loadOriginalDestinationAddon(): { available: true } | { available: false; reason: string } {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON_PATH.pathname) as Addon;
    } catch (err) {
      addon = null;
      return { available: false, reason: `${ADDON_PATH.pathname}: ${(err as Error).message}` };
    }
  }
  return addon === null ? { available: false, reason: `${ADDON_PATH.pathname} did not load` } : { available: true };
}

/**
 * Where the client meant to connect, or undefined when the connection was not redirected (it was
 * made to the listener itself, or the addon is missing). Called once per connection.
 */
export function originalDestination(socket: Socket): OriginalDestination | undefined {
  if (addon === undefined) loadOriginalDestinationAddon();
  if (!addon) return undefined;
  // Node exposes a TCP socket's descriptor only on its internal handle.
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (fd === undefined || fd < 0) return undefined;
  const found = addon.originalDestination(fd);
  if (found === null) return undefined;
  const [host, port, family] = found;
  // With conntrack loaded, a connection made straight to the listener reports its own address.
  if (port === socket.localPort && sameHost(host, socket.localAddress)) return undefined;
  return { host, port, address: family === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}

function sameHost(host: string, local: string | undefined): boolean {
  return local === host || local === `::ffff:${host}`;
}
