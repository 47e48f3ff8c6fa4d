// `petrel dashboard`: the mesh web view's address, opened in a browser when there is one. The page
// itself is served by `petrel control` on its API port; this command only checks that the control
// plane answers, prints the address and, on a desktop, hands it to xdg-open. With --token-file the
// token goes into the URL fragment (#token=...): a browser never sends a fragment to a server, and
// the page moves it to the tab's session storage and clears it from the address bar.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { probe, readApiToken } from './api-client.ts';

export interface DashboardOptions {
  control: string;
  tokenFile?: string | undefined;
  /** false: print only (--no-open). */
  open: boolean;
  out?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** The page's address: the API port's root, with the token in the fragment when there is one. */
export function dashboardUrl(control: string, token: string | undefined): string {
  const url = new URL('/', control);
  if (token !== undefined) url.hash = new URLSearchParams({ token }).toString();
  return url.href;
}

/** The opener to use: xdg-open on PATH while a display is there; undefined on a server or in CI. */
export function browserOpener(env: NodeJS.ProcessEnv): string | undefined {
  if (!env.DISPLAY && !env.WAYLAND_DISPLAY) return undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'xdg-open');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return undefined;
}

export async function runDashboard(o: DashboardOptions): Promise<number> {
  const out = o.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const env = o.env ?? process.env;
  let token: string | undefined;
  try {
    token = await readApiToken(o.tokenFile);
    await probe(o.control, '/ready');
  } catch (err) {
    out(`petrel dashboard: ${(err as Error).message}`);
    return 1;
  }
  const url = dashboardUrl(o.control, token);
  out(`the mesh web view: ${url}`);
  const opener = o.open ? browserOpener(env) : undefined;
  if (opener === undefined) {
    if (o.open) out('(no display or no xdg-open here: open the address in a browser that can reach it, e.g. through ssh -L)');
    return 0;
  }
  // Detached and unwaited: the browser outlives this command.
  const child = spawn(opener, [url], { detached: true, stdio: 'ignore', env });
  child.on('error', (err) => out(`petrel dashboard: ${opener} failed: ${err.message}`));
  child.unref();
  out(`opened with ${opener}`);
  return 0;
}
