// Reads YAML (or JSON) files into documents while keeping where each field came from, so an error
// can say "policies/payments.yaml:14 (document 2) spec.retry.attempts: must be >= 1".
import { readFile } from 'node:fs/promises';
import { isNode, LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { ValidationIssue } from './validate.ts';

export interface SourceDocument {
  file: string;
  /** 1-based index of the document within its file. */
  index: number;
  value: unknown;
  /** 1-based line of a field path, or of the document start when the path is not found. */
  lineOf(segments: readonly (string | number)[]): number;
}

export class SourceError extends Error {
  readonly code = 'PETREL_BAD_SOURCE';
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.file = file;
    this.line = line;
  }
}

export function parseDocuments(text: string, file: string): SourceDocument[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  if (!Array.isArray(docs)) return []; // an empty stream
  const out: SourceDocument[] = [];
  docs.forEach((doc: Document, i) => {
    const first = doc.errors[0];
    if (first) {
      const line = lineCounter.linePos(first.pos[0]).line;
      throw new SourceError(file, line, `document ${i + 1}: YAML: ${first.message.split('\n')[0]}`);
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return; // a bare "---"
    const startLine = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]).line : 1;
    out.push({
      file,
      index: i + 1,
      value,
      lineOf(segments) {
        for (let n = segments.length; n > 0; n--) {
          const node = doc.getIn(segments.slice(0, n), true);
          if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line;
        }
        return startLine;
      },
    });
  });
  return out;
}

export async function readDocuments(file: string): Promise<SourceDocument[]> {
  return parseDocuments(await readFile(file, 'utf8'), file);
}

/** One line per issue: file:line: document N: path: message. */
export function formatIssues(doc: SourceDocument, issues: readonly ValidationIssue[]): string[] {
  return issues.map((issue) =>
    `${doc.file}:${doc.lineOf(issue.segments)}: document ${doc.index}: ${issue.path || '(root)'}: ${issue.message}`);
}
