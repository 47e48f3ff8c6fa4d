// `petrel validate -f FILE ...`: checks every document of every file, whatever its kind
// (ResiliencePolicy, AccessPolicy, HTTPRoute, GRPCRoute or SidecarSnapshot), and prints one line per problem: file:line: document N: path: message.
import { readDocuments, formatIssues, SourceError } from '../api/yaml-source.ts';
import { validateAccessPolicyDocument, validateGrpcRouteDocument, validateHttpRouteDocument, validatePolicyDocument, validateSnapshot, type ValidationIssue } from '../api/validate.ts';

export function validateDocument(value: unknown): ValidationIssue[] {
  const kind = (value as { kind?: unknown } | null)?.kind;
  if (kind === 'ResiliencePolicy') return validatePolicyDocument(value);
  if (kind === 'AccessPolicy') return validateAccessPolicyDocument(value);
  if (kind === 'HTTPRoute') return validateHttpRouteDocument(value);
  if (kind === 'SidecarSnapshot') return validateSnapshot(value);
  if (kind === 'GRPCRoute') return validateGrpcRouteDocument(value);
  return [{ path: 'kind', segments: ['kind'], message: `must be "ResiliencePolicy", "AccessPolicy", "HTTPRoute", "GRPCRoute" or "SidecarSnapshot", got ${JSON.stringify(kind)}` }];
}

export async function runValidate(files: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  let errors = 0;
  let documents = 0;
  for (const file of files) {
    try {
      for (const doc of await readDocuments(file)) {
        documents++;
        const lines = formatIssues(doc, validateDocument(doc.value));
        errors += lines.length;
        lines.forEach(out);
      }
    } catch (err) {
      errors++;
      out(err instanceof SourceError ? err.message : `${file}: ${(err as Error).message}`);
    }
  }
  if (errors === 0) out(`${documents} document(s) in ${files.length} file(s) valid`);
  return errors === 0 ? 0 : 1;
}
