// The content hash of a snapshot: sha256 of its JSON without the version. The control plane and the
// sidecar compute it the same way, so a reconnecting sidecar can say exactly what it holds.
import { createHash } from 'node:crypto';

export function snapshotContentHash(snapshot: object): string {
  const { version: _version, ...content } = snapshot as { version?: unknown };
  return snapshotContentHashOfJson(JSON.stringify(content));
}

/** The same hash from JSON already serialized without the version. */
export function snapshotContentHashOfJson(json: string): string {
  return createHash('sha256').update(json).digest('hex').slice(0, 32);
}
