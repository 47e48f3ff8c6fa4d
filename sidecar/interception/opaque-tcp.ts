// Opaque TCP: a redirected connection that is not HTTP/1.x (TLS, a database protocol, HTTP/2) is
// joined byte for byte to its original destination, with no policy but with connection and byte
// metrics. A failed connect closes the client connection (there is no protocol to answer in).
// To another meshed pod the bytes go inside mesh mTLS (ALPN OPAQUE_ALPN), as Linkerd carries
// opaque traffic: the callee's sidecar checks who is calling and hands the bytes to its app.
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TcpMetrics } from '../telemetry/tcp-metrics.ts';
import type { ClientTls } from '../identity/mesh-tls.ts';
import { dialTls, type TlsObserver } from '../upstream/tls-dial.ts';

/** The ALPN protocol of opaque TCP carried over mesh mTLS between two sidecars. */
export const OPAQUE_ALPN = 'petrel-tcp/1';

export interface OpaqueTarget {
  host: string;
  port: number;
  connectTimeoutMs: number;
  /** Another sidecar: carry the bytes inside mTLS that must present this identity. */
  tls?: { client: ClientTls; observer: TlsObserver | undefined } | undefined;
}

export class OpaqueTcpProxy {
  readonly #open = new Set<Duplex>();

  /** Closes a connection that may not pass (passthrough is off), counting it with flag NR. */
  refuse(client: Duplex & Pick<Socket, 'bytesRead'>, metrics: TcpMetrics): void {
    metrics.opened();
    client.destroy();
    metrics.closed(client.bytesRead, 0, 'NR');
  }

  /** Joins `client` to the target; `head` is what the client already sent. */
  proxy(client: Duplex & Pick<Socket, 'bytesRead' | 'bytesWritten'>, target: OpaqueTarget, head: Buffer, metrics: TcpMetrics): void {
    metrics.opened();
    this.#open.add(client);
    const tls = target.tls;
    const upstream = tls === undefined ? connect({ host: target.host, port: target.port, noDelay: true })
      : dialTls(target.host, target.port, target.connectTimeoutMs, tls.client, [OPAQUE_ALPN], tls.observer);
    let connected = false;
    let flag: 'UF' | 'UT' | undefined;
    const timer = setTimeout(() => {
      flag = 'UT';
      upstream.destroy();
    }, target.connectTimeoutMs);
    upstream.once(tls === undefined ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer);
      connected = true;
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
      client.resume();
    });
    // pipe() carries each side's end to the other; errors tear both down.
    upstream.on('error', () => {
      if (!connected) flag ??= 'UF';
      client.destroy();
    });
    client.on('error', () => upstream.destroy());
    client.once('close', () => {
      clearTimeout(timer);
      upstream.destroy();
      this.#open.delete(client);
      // bytesRead includes the detected head; bytesWritten is what reached the client.
      metrics.closed(client.bytesRead, client.bytesWritten, flag);
    });
    upstream.on('close', () => {
      if (!connected) client.destroy();
    });
  }

  /** Closes the opaque connections still open (the drain's grace period is over). */
  destroyAll(): void {
    for (const socket of this.#open) socket.destroy();
  }
}
