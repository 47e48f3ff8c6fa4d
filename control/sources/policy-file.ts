// Reads one entry of a policy directory into policies, or into errors that say what is wrong and
// where. Anything that is not a readable regular file within the limits is an error, never skipped
// silently: a directory named *.yaml, a symlink loop, a dangling symlink, a file over the size or
// document bound.
import { lstat, readFile, stat } from 'node:fs/promises';
import { formatIssues, parseDocuments, SourceError } from '../../api/yaml-source.ts';
import { validateAccessPolicyDocument, validateGrpcRouteDocument, validateHttpRouteDocument, validatePolicyDocument } from '../../api/validate.ts';
import type { AccessPolicySpec, GrpcRouteSpec, HttpRouteSpec, ResiliencePolicySpec } from '../../api/types.ts';
import type { StoredPolicy } from '../policy.ts';
import { countDocumentMarkers, formatBytes, type PolicyLimits } from './policy-limits.ts';

export type PolicyFileResult = { policies: StoredPolicy[] } | { errors: string[] } | { gone: true };

export async function readPolicyFile(file: string, limits: PolicyLimits): Promise<PolicyFileResult> {
  let size: number;
  try {
    const info = await stat(file);
    if (info.isDirectory()) return { errors: [`${file}: is a directory${await viaSymlink(file)}; a policy file must be a regular file`] };
    if (!info.isFile()) return { errors: [`${file}: is not a regular file`] };
    size = info.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { errors: [`${file}: symbolic link loop`] };
    if (code === 'ENOENT') {
      // Removed since the directory was listed (the next event handles it), or a dangling symlink.
      return (await lstat(file).then((l) => l.isSymbolicLink(), () => false)) ? { errors: [`${file}: symbolic link to a missing file`] } : { gone: true };
    }
    return { errors: [`${file}: cannot read: ${(err as Error).message}`] };
  }
  if (size > limits.maxFileBytes) return { errors: [tooLarge(file, size, limits)] };
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { gone: true };
    return { errors: [`${file}: cannot read: ${(err as Error).message}`] };
  }
  // It may have grown between stat and read.
  if (Buffer.byteLength(text) > limits.maxFileBytes) return { errors: [tooLarge(file, Buffer.byteLength(text), limits)] };
  return parsePolicies(text, file, limits);
}

function tooLarge(file: string, size: number, limits: PolicyLimits): string {
  return `${file}: ${size} bytes exceeds the limit of ${formatBytes(limits.maxFileBytes)} per policy file; split it into smaller files`;
}

async function viaSymlink(file: string): Promise<string> {
  return (await lstat(file).then((l) => l.isSymbolicLink(), () => false)) ? ' (through a symbolic link)' : '';
}

/** Parses and validates one file's documents: all of them, or the errors. */
export function parsePolicies(text: string, file: string, limits: PolicyLimits): { policies: StoredPolicy[] } | { errors: string[] } {
  const tooMany = `exceeds the limit of ${limits.maxDocumentsPerFile} documents per policy file; split it into smaller files`;
  // Counted before parsing: parsing thousands of documents is what costs the memory.
  const markers = countDocumentMarkers(text);
  if (markers > limits.maxDocumentsPerFile + 1) return { errors: [`${file}: ${markers - 1} document separators (---) ${tooMany}`] };
  let docs;
  try {
    docs = parseDocuments(text, file);
  } catch (err) {
    return { errors: [err instanceof SourceError ? err.message : `${file}: ${(err as Error).message}`] };
  }
  if (docs.length > limits.maxDocumentsPerFile) return { errors: [`${file}: ${docs.length} documents ${tooMany}`] };
  const errors: string[] = [];
  const policies: StoredPolicy[] = [];
  for (const doc of docs) {
    // The document's kind picks the schema (ResiliencePolicy, AccessPolicy, HTTPRoute, GRPCRoute); any other kind
    // is judged as a ResiliencePolicy, whose
    // schema then names the kind it expected.
    const kind = (doc.value as { kind?: unknown } | null)?.kind;
    const issues = kind === 'AccessPolicy' ? validateAccessPolicyDocument(doc.value)
      : kind === 'HTTPRoute' ? validateHttpRouteDocument(doc.value)
      : kind === 'GRPCRoute' ? validateGrpcRouteDocument(doc.value)
      : validatePolicyDocument(doc.value);
    if (issues.length > 0) {
      errors.push(...formatIssues(doc, issues));
      continue;
    }
    const value = doc.value as { metadata: { name: string; namespace?: string; creationTimestamp?: string }; spec: unknown };
    const namespace = value.metadata.namespace ?? 'default';
    const base = { key: `${namespace}/${value.metadata.name}`, namespace, name: value.metadata.name, origin: `${file} (document ${doc.index})` };
    if (kind === 'AccessPolicy') policies.push({ ...base, kind: 'AccessPolicy', spec: value.spec as AccessPolicySpec });
    else if (kind === 'HTTPRoute' || kind === 'GRPCRoute') {
      const created = value.metadata.creationTimestamp;
      const age = created === undefined ? {} : { creationTimestamp: created };
      if (kind === 'HTTPRoute') policies.push({ ...base, kind, spec: value.spec as HttpRouteSpec, ...age });
      else policies.push({ ...base, kind, spec: value.spec as GrpcRouteSpec, ...age });
    } else policies.push({ ...base, kind: 'ResiliencePolicy', spec: value.spec as ResiliencePolicySpec });
  }
  return errors.length > 0 ? { errors } : { policies };
}
