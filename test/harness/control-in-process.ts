// A ControlPlane started in this process on OS-chosen loopback ports, and a raw config-stream client
// (NDJSON frames from GET /v1/subscribe), for tests that need the CA or the principal checks without
// spawning the CLI. HTTPS (streamTls) is spoken through node:https with the mesh roots pinned.
import { request as httpsRequest } from 'node:https';
import { pino } from 'pino';
import { ControlPlane, type ControlPlaneOptions } from '../../control/control-plane.ts';

export async function startControlPlane(options: Partial<ControlPlaneOptions> = {}): Promise<ControlPlane> {
  const control = new ControlPlane({
    policiesDir: undefined, token: undefined, host: '127.0.0.1', streamPort: 0, apiPort: 0,
    debounceMs: 10, registrationGraceMs: 1000, startupGraceMs: 0, log: pino({ level: 'silent' }), ...options,
  });
  await control.start();
  return control;
}

export interface Reply { status: number; headers: Record<string, string>; body: any }

/** POST /v1/certificate (plain HTTP) with an optional bearer token. */
export async function requestCertificate(control: ControlPlane, body: unknown, token?: string): Promise<Reply> {
  const res = await fetch(`http://${control.address('stream')}/v1/certificate`, {
    method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
  });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.json() };
}

export async function postJson(control: ControlPlane, path: string, body: unknown, token?: string): Promise<Reply> {
  const res = await fetch(`http://${control.address('stream')}${path}`, {
    method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
  });
  const text = await res.text();
  return { status: res.status, headers: Object.fromEntries(res.headers), body: text === '' ? undefined : JSON.parse(text) };
}

/** An open config stream: frames as they arrive. */
export class RawStream {
  readonly frames: any[] = [];
  readonly #abort = new AbortController();
  #waiters: (() => void)[] = [];
  status = 0;

  static async open(control: ControlPlane, query: Record<string, string>, token?: string): Promise<RawStream> {
    const stream = new RawStream();
    const res = await fetch(`http://${control.address('stream')}/v1/subscribe?${new URLSearchParams(query)}`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: stream.#abort.signal,
    });
    stream.status = res.status;
    if (res.status !== 200) {
      stream.frames.push(await res.json());
      return stream;
    }
    void stream.#read(res.body!.getReader());
    return stream;
  }

  async #read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    let buffered = '';
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffered += decoder.decode(value, { stream: true });
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          this.frames.push(JSON.parse(buffered.slice(0, nl)));
          buffered = buffered.slice(nl + 1);
          for (const w of this.#waiters.splice(0)) w();
        }
      }
    } catch {
      // aborted
    }
  }

  /** The first frame (from `from` on) that satisfies `test`. */
  async next(test: (frame: any) => boolean, from = 0, timeoutMs = 5000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.slice(from).find(test);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.map((f) => f.type))}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  hello(): Promise<{ id: string; secret: string }> {
    return this.next((f) => f.type === 'hello');
  }

  close(): void {
    this.#abort.abort();
  }
}

/** An HTTPS request to the stream port that trusts only `ca` and checks the name `servername`. */
export function httpsGet(control: ControlPlane, path: string, ca: string[], servername: string): Promise<{ status: number; peerCertificate: string }> {
  const [host, port] = control.address('stream').split(':') as [string, string];
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host, port: Number(port), path, ca, servername, method: 'GET', agent: false }, (res) => {
      const peer = (res.socket as import('node:tls').TLSSocket).getPeerX509Certificate();
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, peerCertificate: peer?.toString() ?? '' }));
    });
    req.on('error', reject);
    req.end();
  });
}
