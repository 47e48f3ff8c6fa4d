// A real browser for the web view's test: Debian's chromium, driven over the DevTools protocol by
// puppeteer-core (which never downloads a browser of its own). `make test` installs chromium
// (APT_TEST_PACKAGES); without it the test fails and says so, it does not skip.
import { existsSync } from 'node:fs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const CHROMIUM = process.env.PETREL_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the web view test needs Debian's chromium (make apt-test installs it; or apt-get install --no-install-recommends chromium)`);
  }
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container has no user namespaces for chromium's sandbox; the page is our own.
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check'],
    defaultViewport: { width: 1440, height: 1000 },
    timeout: 30_000,
  });
}

/** Console errors and uncaught exceptions of a page: a CSP refusal shows up here too. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(e instanceof Error ? e.message : String(e)));
  return errors;
}
