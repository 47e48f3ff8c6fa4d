// `petrel inject -f FILE|-`: injected manifests on stdout, one note per document on stderr.
import { readFile } from 'node:fs/promises';
import { DEFAULT_INJECTOR_CONFIG } from './injection-config.ts';
import { InjectError, injectManifests } from './inject-manifests.ts';

export async function runInject(file: string, overrides: { image?: string; controlUrl?: string }): Promise<number> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    process.stderr.write(`petrel inject: ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  const config = {
    ...DEFAULT_INJECTOR_CONFIG,
    ...(overrides.image === undefined ? {} : { image: overrides.image }),
    ...(overrides.controlUrl === undefined ? {} : { controlUrl: overrides.controlUrl }),
  };
  try {
    const report = injectManifests(text, file === '-' ? '<stdin>' : file, config);
    process.stdout.write(report.output);
    for (const note of report.notes) process.stderr.write(`${note}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof InjectError)) throw err;
    process.stderr.write(`petrel inject: ${err.message}\n`);
    return 1;
  }
}

async function readStdin(): Promise<string> {
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) text += chunk as string;
  return text;
}
