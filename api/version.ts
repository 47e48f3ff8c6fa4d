// The Petrel release this code is: package.json's version. The CLI and the control plane each
// report theirs, so `petrel check` can tell a skew. Found by walking up from this file, which sits
// one level deeper when built (dist/api/version.js) than in the source tree (api/version.ts).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'petrel' && typeof pkg.version === 'string') return pkg.version;
    } catch { /* not here: go up */ }
    dir = dirname(dir);
  }
  return 'unknown';
}

export const PETREL_VERSION = findVersion();
