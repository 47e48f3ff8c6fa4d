// `--config FILE`: a static snapshot in YAML or JSON. Loaded at start; SIGHUP reloads it, and a
// file that fails to parse or validate leaves the running snapshot in force.
import { readDocuments, formatIssues, SourceError } from '../../api/yaml-source.ts';
import type { ConfigStore } from './config-store.ts';
import type { CompiledSnapshot } from './compiled.ts';

export async function loadSnapshotFile(store: ConfigStore, file: string): Promise<CompiledSnapshot> {
  let docs;
  try {
    docs = await readDocuments(file);
  } catch (err) {
    const message = err instanceof SourceError ? err.message : `${file}: ${(err as Error).message}`;
    return store.reject({ kind: 'file', name: file }, [message]);
  }
  if (docs.length !== 1) {
    return store.reject({ kind: 'file', name: file }, [`${file}: expected exactly one SidecarSnapshot document, found ${docs.length}`]);
  }
  const doc = docs[0]!;
  return store.apply(doc.value, { kind: 'file', name: file }, (issues) => formatIssues(doc, issues));
}
