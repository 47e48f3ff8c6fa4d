// Bodies stream through the sidecar pair with backpressure: a 1 GiB upload and a 1 GiB download
// pass while each sidecar's memory stays bounded, and a client that stops reading stops the app.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { snapshot, startSidecar, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';

const GiB = 1024 ** 3;
const CHUNK = Buffer.alloc(256 * 1024, 'p');
/**
 * Growth of a sidecar's RSS over its idle baseline that a 1 GiB transfer may cause. Socket reads
 * allocate 64 KiB buffers that V8 frees in batches, so ~70 MB of transient garbage is normal (measured);
 * a proxy that buffered bodies would grow by the whole GiB.
 */
const RSS_GROWTH_BOUND_KB = 128 * 1024;

/** Writes `total` bytes to a writable, honouring backpressure. */
function pump(write: (b: Buffer) => boolean, once: (e: 'drain', f: () => void) => void, total: number, end: () => void): void {
  let sent = 0;
  const go = (): void => {
    while (sent < total) {
      const n = Math.min(CHUNK.length, total - sent);
      sent += n;
      if (!write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        once('drain', go);
        return;
      }
    }
    end();
  };
  go();
}

describe('streaming with bounded memory', () => {
  let app: Upstream;
  let outbound: SidecarHandle;
  let inbound: SidecarHandle;
  let appWritten = 0;

  before(async () => {
    app = await startUpstream((req, res) => {
      if (req.url === '/download') {
        res.writeHead(200, { 'content-length': String(GiB) });
        pump((b) => res.write(b), (e, f) => res.once(e, f), GiB, () => res.end());
        return;
      }
      if (req.url === '/firehose') {
        appWritten = 0;
        res.writeHead(200);
        const go = (): void => {
          while (appWritten < GiB) {
            appWritten += CHUNK.length;
            if (!res.write(CHUNK)) { res.once('drain', go); return; }
          }
          res.end();
        };
        go();
        return;
      }
      let bytes = 0;
      req.on('data', (c: Buffer) => { bytes += c.length; });
      req.on('end', () => res.end(String(bytes)));
    });
    inbound = await startSidecar({ service: 'files', app: app.address, config: snapshot(1, []) });
    outbound = await startSidecar({ service: 'web', config: snapshot(1, [{ name: 'files', endpoints: [`127.0.0.1:${inbound.inboundPort}`] }]) });
  });

  after(async () => {
    await Promise.all([outbound?.stop('SIGKILL'), inbound?.stop('SIGKILL')]);
    await app?.close();
  });

  /** Samples both sidecars' RSS every 50 ms while `work` runs; returns the largest growth in kB. */
  async function rssGrowthDuring(work: () => Promise<void>): Promise<number> {
    const base = [outbound.rssKb(), inbound.rssKb()];
    let worst = 0;
    const timer = setInterval(() => {
      worst = Math.max(worst, outbound.rssKb() - (base[0] as number), inbound.rssKb() - (base[1] as number));
    }, 50);
    try {
      await work();
    } finally {
      clearInterval(timer);
    }
    return worst;
  }

  it('passes a 1 GiB upload', async (t) => {
    let answer = '';
    const growth = await rssGrowthDuring(() => new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: outbound.outboundPort, method: 'PUT', path: '/upload', agent: false,
        headers: { host: 'files', 'content-length': String(GiB) } }, (res) => {
        res.on('data', (d: Buffer) => { answer += d.toString(); });
        res.on('end', resolve);
      });
      req.on('error', reject);
      pump((b) => req.write(b), (e, f) => req.once(e, f), GiB, () => req.end());
    }));
    t.diagnostic(`largest sidecar RSS growth during the upload: ${growth} kB`);
    assert.equal(answer, String(GiB), 'the app received every byte');
    assert.ok(growth < RSS_GROWTH_BOUND_KB, `RSS grew by ${growth} kB`);
  });

  it('passes a 1 GiB download', async (t) => {
    let received = 0;
    const growth = await rssGrowthDuring(() => new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: outbound.outboundPort, path: '/download', agent: false, headers: { host: 'files' } }, (res) => {
        res.on('data', (d: Buffer) => { received += d.length; });
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    }));
    t.diagnostic(`largest sidecar RSS growth during the download: ${growth} kB`);
    assert.equal(received, GiB);
    assert.ok(growth < RSS_GROWTH_BOUND_KB, `RSS grew by ${growth} kB`);
  });

  it('stops the app writing when the client stops reading (backpressure end to end)', async (t) => {
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: outbound.outboundPort, path: '/firehose', agent: false, headers: { host: 'files' } }, (res) => {
        res.pause();
        setTimeout(() => {
          // Kernel socket buffers along the three loopback hops can hold ~100 MB (tcp_rmem autotunes
          // up to 32 MB here); a proxy that ignored backpressure would have let the app write the
          // whole GiB by now.
          const stalledAt = appWritten;
          t.diagnostic(`app wrote ${stalledAt} bytes before backpressure stopped it`);
          assert.ok(stalledAt < 200 * 1024 * 1024, `app wrote ${stalledAt} bytes while the client read nothing`);
          let received = 0;
          res.on('data', (d: Buffer) => { received += d.length; });
          res.on('end', () => {
            assert.equal(received, GiB);
            resolve();
          });
          res.resume();
        }, 1500);
      });
      req.on('error', reject);
      req.end();
    });
  });
});
