// `petrel inject -f FILE|-`: the webhook's injection, offline, on multi-document YAML. Pods and the
// pod templates of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs are injected;
// every other document is written back as it came. Injecting twice changes nothing.
import { parseAllDocuments, type Document } from 'yaml';
import { AnnotationError, type InjectorConfig } from './injection-config.ts';
import { decide, injectTemplate, type PodTemplate } from './pod-injector.ts';

/** Where each kind keeps its pod template. */
const TEMPLATE_PATHS: Record<string, string[]> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export class InjectError extends Error {
  readonly code = 'PETREL_INJECT';
}

export interface InjectReport {
  output: string;
  /** One line per document: what happened to it. */
  notes: string[];
}

export function injectManifests(text: string, file: string, config: InjectorConfig): InjectReport {
  const docs = parseAllDocuments(text, { prettyErrors: true });
  if (!Array.isArray(docs)) throw new InjectError(`${file}: not YAML documents`);
  const notes: string[] = [];
  const out: string[] = [];
  docs.forEach((doc, index) => {
    const where = `${file}: document ${index + 1}`;
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = e.linePos?.[0].line;
      throw new InjectError(`${file}${line === undefined ? '' : `:${line}`}: document ${index + 1}: ${e.message.split('\n')[0]}`);
    }
    const notesBefore = notes.length;
    const injected = injectDocument(doc, where, config, notes);
    if (notes.length === notesBefore) notes.push(`${where}: left as is`);
    if (injected) {
      const rendered = doc.toString();
      out.push(index > 0 && !rendered.startsWith('---') ? `---\n${rendered}` : rendered);
    } else {
      // Byte for byte as it came: its own "---", comments and formatting.
      const next = docs[index + 1];
      out.push(text.slice(index === 0 ? 0 : doc.range[0], next === undefined ? text.length : next.range[0]));
    }
  });
  return { output: out.join(''), notes };
}

/** Injects the document in place; false when it was left as it came. */
function injectDocument(doc: Document, where: string, config: InjectorConfig, notes: string[]): boolean {
  const object = doc.toJS() as { kind?: unknown; metadata?: { name?: string; namespace?: string } } | null;
  if (object === null || typeof object !== 'object' || typeof object.kind !== 'string') return false;
  const path = TEMPLATE_PATHS[object.kind];
  if (path === undefined) {
    notes.push(`${where}: ${object.kind} left as is (no pod template)`);
    return false;
  }
  let template: unknown = object;
  for (const key of path) template = (template as Record<string, unknown> | undefined)?.[key];
  if (!isTemplate(template)) throw new InjectError(`${where}: ${path.length === 0 ? '' : `${path.join('.')}.`}spec.containers: a ${object.kind} needs a pod spec with containers`);
  const fieldPath = path.length === 0 ? '' : `${path.join('.')}.`;
  const decision = decide(template, undefined);
  const name = `${object.kind}/${object.metadata?.name ?? '(unnamed)'}`;
  if (!decision.inject) {
    notes.push(`${where}: ${name} skipped: ${decision.reason}`);
    return false;
  }
  let injected: PodTemplate;
  try {
    injected = injectTemplate(template, object.metadata?.namespace ?? 'default', config, path.length === 0 ? undefined : object.metadata?.name, `${fieldPath}metadata`);
  } catch (err) {
    if (err instanceof AnnotationError) throw new InjectError(`${where}: ${err.message}`);
    throw err;
  }
  if (path.length === 0) {
    doc.setIn(['metadata'], doc.createNode(injected.metadata));
    doc.setIn(['spec'], doc.createNode(injected.spec));
  } else {
    doc.setIn(path, doc.createNode(injected));
  }
  notes.push(`${where}: ${name} injected`);
  return true;
}

function isTemplate(value: unknown): value is PodTemplate {
  return typeof value === 'object' && value !== null && Array.isArray((value as { spec?: { containers?: unknown } }).spec?.containers);
}
