// Bounds on policy input, so that one hostile or broken input cannot take the control plane's
// memory: a 10 MB file of 80,000 documents once grew it from 86 to 631 MB. An input over a bound is
// rejected whole, with a message naming it and the bound, and its last good version stays in force.

export interface PolicyLimits {
  /** Bytes per policy file; checked before the file is read. */
  maxFileBytes: number;
  /** YAML documents per file; counted before the file is parsed. */
  maxDocumentsPerFile: number;
  /** Policies one source (a directory, the Kubernetes API) holds in all. */
  maxPolicies: number;
  /** Policies per namespace (the Kubernetes source; objects there are small but many). */
  maxPoliciesPerNamespace: number;
}

export const DEFAULT_POLICY_LIMITS: PolicyLimits = {
  maxFileBytes: 1024 * 1024,
  maxDocumentsPerFile: 1000,
  maxPolicies: 10_000,
  maxPoliciesPerNamespace: 1000,
};

/** "1 MiB", "512 KiB", "300 bytes". */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/**
 * An upper bound on the documents in a YAML text, without parsing it: one more than its lines that
 * start a document (`---`). A document marker at the start of a line cannot occur inside a scalar,
 * so this never undercounts.
 */
export function countDocumentMarkers(text: string): number {
  let n = 1;
  for (let i = text.indexOf('---'); i >= 0; i = text.indexOf('---', i + 3)) {
    if (i > 0 && text[i - 1] !== '\n') continue;
    const after = text[i + 3];
    if (after === undefined || after === ' ' || after === '\t' || after === '\n' || after === '\r') n++;
  }
  return n;
}
