// `petrel inject -f FILE|-`: injected manifests on stdout, one note per document on stderr.
import { readFile } from 'node:fs/promises';
import { DEFAULT_INJECTOR_CONFIG } from './injection-config.ts';
import { InjectError, injectManifests } from './inject-manifests.ts';

export async function runInject(file: string, overrides: { image?: string; controlUrl?: string; controlCaFile?: string }): Promise<number> {
  let text: string;
  let trustRootsPem: string | undefined;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    process.stderr.write(`petrel inject: ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  if (overrides.controlCaFile !== undefined) {
    try {
      trustRootsPem = await readFile(overrides.controlCaFile, 'utf8');
    } catch (err) {
      process.stderr.write(`petrel inject: --control-ca ${overrides.controlCaFile}: ${(err as Error).message}\n`);
      return 1;
    }
    // Only certificates go into the pod spec: a key pasted by mistake must not.
    if (!/-----BEGIN CERTIFICATE-----/.test(trustRootsPem) || /PRIVATE KEY-----/.test(trustRootsPem)) {
      process.stderr.write(`petrel inject: --control-ca ${overrides.controlCaFile}: not PEM certificates only (give the mesh root, ca.crt)\n`);
      return 1;
    }
  }
  const config = {
    ...DEFAULT_INJECTOR_CONFIG,
    ...(overrides.image === undefined ? {} : { image: overrides.image }),
    ...(overrides.controlUrl === undefined ? {} : { controlUrl: overrides.controlUrl }),
    trustRootsPem,
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
