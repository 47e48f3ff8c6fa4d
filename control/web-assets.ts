// The mesh web view's files (web/ in the repository, dist/web/ in the build), served by the control
// plane's API port at `/`. The set is fixed when the control plane starts: a map from URL path to
// one known file, so no request path ever reaches the file system (no traversal, no listing). Files
// are read on first request and kept: the page is small, and most control planes are never viewed.
// Every answer carries a strict Content-Security-Policy: scripts, styles and fetches from this
// origin only, no inline script or style, no framing. The page holds no secret: the API calls it
// makes carry the token, which the page takes from the URL fragment (never sent to a server).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

/** The page's own files, under web/; each is served at `/<name>` (index.html also at `/`). */
export const PAGE_FILES = ['index.html', 'style.css', 'app.js', 'api.js', 'dom.js', 'format.js', 'graph.js', 'panes.js', 'endpoints.js', 'tap.js'] as const;
/** The graph library, copied from node_modules by the build (web/build.sh); served at this path. */
export const CYTOSCAPE_PATH = '/vendor/cytoscape.esm.min.mjs';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
};

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "object-src 'none'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

interface Asset { file: string; type: string; body?: Buffer }

export class WebAssets {
  readonly #assets = new Map<string, Asset>();

  /** `dir`: the page's folder; default dist/web beside this module, or web/ when run from source. */
  constructor(dir = resolve(import.meta.dirname, '..', 'web')) {
    const type = (name: string) => TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';
    for (const name of PAGE_FILES) this.#assets.set(`/${name}`, { file: join(dir, name), type: type(name) });
    this.#assets.set('/', { file: join(dir, 'index.html'), type: TYPES['.html'] as string });
    this.#assets.set(CYTOSCAPE_PATH, { file: cytoscapeFile(dir), type: TYPES['.mjs'] as string });
  }

  /** The URL paths served. */
  paths(): string[] {
    return [...this.#assets.keys()];
  }

  /** Answers `path` when it is one of the page's files and returns true; false leaves `res` alone. */
  serve(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const asset = this.#assets.get(path);
    if (asset === undefined) return false;
    const headers = {
      'content-type': asset.type, 'content-security-policy': CONTENT_SECURITY_POLICY,
      'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer', 'cache-control': 'no-cache',
    };
    const send = (body: Buffer) => {
      res.writeHead(200, { ...headers, 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (asset.body !== undefined) {
      send(asset.body);
      return true;
    }
    readFile(asset.file).then(
      (body) => {
        asset.body = body;
        send(body);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', 'content-security-policy': CONTENT_SECURITY_POLICY });
        res.end(`the web view's file ${path} is missing from this build (run npm run build)\n`);
      },
    );
    return true;
  }
}

/** The build's copy (dist/web/vendor) when there is one, else the package in node_modules (running from source). */
function cytoscapeFile(dir: string): string {
  const copied = join(dir, 'vendor', 'cytoscape.esm.min.mjs');
  if (existsSync(copied)) return copied;
  try {
    const require = createRequire(import.meta.url);
    // The package's exports hide package.json; its CommonJS entry sits beside the ESM build.
    return join(dirname(require.resolve('cytoscape')), 'cytoscape.esm.min.mjs');
  } catch {
    return copied;
  }
}
