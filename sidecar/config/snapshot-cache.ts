// The last good snapshot on disk (`--cache`), so that a restarted sidecar serves before the control
// plane answers. Written after each ACK through a rename (never half a file); an unusable cache is
// ignored with a warning. (With mesh identity the sidecar still waits for a certificate: its key is
// never cached.)
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { SnapshotStore } from './control-client.ts';

export async function loadSnapshotCache(file: string, store: SnapshotStore, log: Logger): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return; // no cache yet
  }
  try {
    const compiled = store.apply(JSON.parse(text), { kind: 'file', name: file });
    log.info({ version: compiled.version, file }, 'serving the cached snapshot until the control plane answers');
  } catch (err) {
    log.warn({ file, err: (err as Error).message }, 'ignoring an unusable snapshot cache');
  }
}

export async function saveSnapshotCache(file: string, doc: unknown, log: Logger): Promise<void> {
  try {
    await writeFile(`${file}.tmp`, JSON.stringify(doc));
    await rename(`${file}.tmp`, file);
  } catch (err) {
    log.warn({ file, err: (err as Error).message }, 'could not write the snapshot cache');
  }
}
