// The mesh web view in a real browser (headless chromium): a local mesh under bounded load (a
// control plane with a token, a web sidecar calling payments and inventory, two replicas each, real
// upstreams on 127.0.0.1), the page loaded from the control plane's API port. It checks that the
// services and the calls between them appear, that the numbers change between two screenshots taken
// 3 s apart, and that payments, once its upstream answers 500, shows as failing. The screenshots
// stay in test-artifacts/web-view/ (ignored by git; docs/web-view.png is one of them).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'puppeteer-core';
import { collectErrors, launchChromium } from './harness/browser.ts';
import { call } from './harness/client.ts';
import { REPO, startControl, startSidecar, tempDir, type ControlHandle, type SidecarHandle } from './harness/processes.ts';
import { startUpstream, type Upstream } from './harness/upstream.ts';
import { waitFor } from './harness/wait.ts';

const ARTIFACTS = join(REPO, 'test-artifacts', 'web-view');
/** The load is bounded: at most this many requests, for at most this long, about LOAD_RPS a second. */
const LOAD_MAX_REQUESTS = 6000;
const LOAD_MAX_MS = 120_000;
const LOAD_RPS = 40;
/**
 * Sidecars send their 30 s summary every 5 s, and the page polls every 2 s. Started this far apart,
 * the five sidecars' reports interleave (one about every second), so any two polls 2 s apart see
 * at least one new report: the 3 s between the screenshots always span one.
 */
const STAGGER_MS = 1000;

interface Row { key: string; health: string; rps: string; success: string; p99: string }

// The test's code runs in node; what runs in the page is given as expression text (the project's
// TypeScript has no DOM types).

/** The numbers as the page renders them, as text: services, then calls. */
function renderedNumbers(page: Page): Promise<Row[]> {
  return page.evaluate(`[...document.querySelectorAll('#services tr.service, #edges tr.edge')].map((el) => {
    const text = (c) => el.querySelector('.' + c)?.textContent ?? '';
    const key = el.dataset.service ?? el.dataset.from + ' -> ' + el.dataset.to;
    return { key, health: el.dataset.health ?? '', rps: text('rps'), success: text('success'), p99: text('p99') };
  })`) as Promise<Row[]>;
}

/** Waits until `expression` is true in the page. */
async function until(page: Page, expression: string, timeout: number): Promise<void> {
  await page.waitForFunction(expression, { timeout });
}

function inPage<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate(expression) as Promise<T>;
}

describe('the mesh web view in headless chromium', () => {
  let control: ControlHandle;
  let token: string;
  const sidecars: SidecarHandle[] = [];
  const apps: Upstream[] = [];
  let browser: Browser;
  let page: Page;
  let errors: string[];
  let paymentsFails = false;
  let load: Promise<number>;
  let stopLoad = false;

  before(async () => {
    // First: without chromium the test fails here, saying so, before any mesh starts.
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    const answer = (fails: () => boolean) => startUpstream((req, res) => {
      req.resume();
      if (fails()) { res.writeHead(500); res.end('failing on purpose'); return; }
      // A little latency, varied, so that p99 means something.
      setTimeout(() => res.end('ok'), Math.floor(Math.random() * 8));
    });
    apps.push(await answer(() => paymentsFails), await answer(() => false));
    const [paymentsApp, inventoryApp] = apps as [Upstream, Upstream];
    const dir = tempDir('petrel-web-view-');
    const tokenFile = join(dir, 'token');
    token = 'web-view-secret';
    writeFileSync(tokenFile, `${token}\n`);
    control = await startControl({ policiesDir: tempDir('petrel-policies-'), tokenFile, args: ['--startup-grace', '0s'] });
    const args = (name: string) => ['--control', control.streamUrl, '--token-file', tokenFile, '--name', name];
    const plan = [
      { service: 'web', name: 'web-0' }, { service: 'payments', name: 'payments-0', app: paymentsApp.address },
      { service: 'inventory', name: 'inventory-0', app: inventoryApp.address }, { service: 'payments', name: 'payments-1', app: paymentsApp.address },
      { service: 'inventory', name: 'inventory-1', app: inventoryApp.address },
    ];
    sidecars.push(...await Promise.all(plan.map(async (p, i) => {
      await new Promise((r) => setTimeout(r, i * STAGGER_MS));
      return startSidecar({ service: p.service, ...(p.app === undefined ? {} : { app: p.app }), args: args(p.name) });
    })));
    await waitFor(async () => (await control.status()).sidecars.filter((s) => s.state === 'SYNCED').length === plan.length, 'five SYNCED sidecars', 20_000);
    const web = sidecars[0] as SidecarHandle;
    await waitFor(async () => {
      const dump = await (await web.admin('/config_dump')).text();
      return (dump.match(/"address"/g) ?? []).length >= 4;
    }, 'the four endpoints in the web sidecar\'s snapshot', 20_000);
    // The load: a paced loop through the web sidecar's outbound listener, alternating callees.
    load = (async () => {
      const started = Date.now();
      let sent = 0;
      while (!stopLoad && sent < LOAD_MAX_REQUESTS && Date.now() - started < LOAD_MAX_MS) {
        const host = sent % 2 === 0 ? 'payments' : 'inventory';
        sent++;
        await Promise.all([call(web.outboundPort, { headers: { host } }).catch(() => undefined), new Promise((r) => setTimeout(r, 1000 / LOAD_RPS))]);
      }
      return sent;
    })();
    page = await browser.newPage();
    errors = collectErrors(page);
  });

  after(async () => {
    stopLoad = true;
    await load?.catch(() => undefined);
    await browser?.close();
    await Promise.all(sidecars.map((s) => s.stop('SIGKILL')));
    await control?.stop('SIGKILL');
    await Promise.all(apps.map((a) => a.close()));
  });

  it('asks for the token when the address has none', async () => {
    const bare = await browser.newPage();
    await bare.goto(`${control.apiUrl}/`, { waitUntil: 'load' });
    await bare.waitForSelector('#token-form:not([hidden])', { timeout: 10_000 });
    assert.match(await inPage<string>(bare, `document.getElementById('banner-text').textContent`), /needs its token/);
    await bare.close();
  });

  it('shows the services and the calls between them, served with a strict CSP', async () => {
    const res = await page.goto(`${control.apiUrl}/#token=${encodeURIComponent(token)}`, { waitUntil: 'load' });
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /default-src 'self'/);
    assert.equal(page.url(), `${control.apiUrl}/`, 'the page moved the token out of the address bar');
    await until(page, `(() => {
      const nodes = (document.getElementById('graph').dataset.nodes ?? '').split(' ');
      return ['web', 'payments', 'inventory'].every((s) => nodes.includes(s)) && document.querySelectorAll('#edges tr.edge').length >= 2;
    })()`, 30_000);
    const rows = await renderedNumbers(page);
    for (const key of ['payments', 'inventory', 'web -> payments', 'web -> inventory']) assert.ok(rows.some((r) => r.key === key), `${key} in ${JSON.stringify(rows)}`);
    assert.ok(await page.$('#graph canvas'), 'cytoscape drew the graph on a canvas');
    const synced = await inPage<string[]>(page, `[...document.querySelectorAll('#sidecars tr.sidecar')].map((tr) => tr.dataset.state)`);
    assert.deepEqual(synced, ['SYNCED', 'SYNCED', 'SYNCED', 'SYNCED', 'SYNCED']);
    assert.match(await inPage<string>(page, `document.getElementById('policies').textContent`), /none rejected/);
  });

  it('updates live: the numbers differ between two screenshots taken 3 s apart', async () => {
    // Wait until every row has traffic in its window, so that the comparison is of real numbers.
    await until(page, `[...document.querySelectorAll('#services tr.service[data-service="payments"] .rps, #services tr.service[data-service="inventory"] .rps, #edges tr.edge .rps')]
      .every((td) => Number(td.textContent) > 0)`, 30_000);
    const first = await renderedNumbers(page);
    await page.screenshot({ path: join(ARTIFACTS, '1-live.png'), fullPage: true });
    await new Promise((r) => setTimeout(r, 3000));
    const second = await renderedNumbers(page);
    await page.screenshot({ path: join(ARTIFACTS, '2-live-3s-later.png'), fullPage: true });
    console.log(`3 s apart:\n  ${JSON.stringify(first)}\n  ${JSON.stringify(second)}`);
    assert.notDeepEqual(second, first, 'the rendered numbers changed');
    for (const r of second) assert.ok(r.key === 'web' || Number(r.rps) > 0, `${r.key} has traffic: ${JSON.stringify(r)}`);
  });

  it('shows the endpoints of a chosen service and a tap pane for it', async () => {
    await page.select('#endpoint-service', 'payments');
    await until(page, `document.querySelectorAll('#endpoints tr.endpoint').length === 2`, 10_000);
    const names = (await inPage<string[]>(page, `[...document.querySelectorAll('#endpoints tr.endpoint td.name')].map((td) => td.textContent)`)).sort();
    assert.deepEqual(names, ['payments-0', 'payments-1']);
    await page.select('#tap-service', 'payments');
    await page.click('#tap-start');
    // With a control plane that relays taps, events arrive; without, the pane says what is missing.
    await until(page, `document.querySelectorAll('#tap tbody tr').length > 0 || /no tap stream/.test(document.getElementById('tap-status').textContent)`, 15_000);
    if (await page.$('#tap-stop:not([disabled])')) await page.click('#tap-stop');
  });

  it('shows a service whose upstream turns to 500s as failing', async () => {
    paymentsFails = true;
    // The service's own sidecars and its caller's (web's) each report every 5 s: both views turn red.
    await until(page, `document.querySelector('#services tr.service[data-service="payments"]')?.dataset.health === 'failing'
      && document.querySelector('#edges tr.edge[data-from="web"][data-to="payments"]')?.dataset.health === 'failing'
      && (document.getElementById('graph').dataset.failing ?? '').split(' ').includes('payments')`, 30_000);
    await page.screenshot({ path: join(ARTIFACTS, '3-payments-failing.png'), fullPage: true });
    const rows = await renderedNumbers(page);
    const payments = rows.find((r) => r.key === 'payments');
    assert.ok(payments !== undefined && Number.parseFloat(payments.success) < 100, `payments success below 100%: ${JSON.stringify(payments)}`);
    assert.equal(await inPage<boolean>(page, `document.querySelector('#services tr.service[data-service="payments"]').classList.contains('failing')`), true);
    const call = rows.find((r) => r.key === 'web -> payments');
    assert.ok(call !== undefined && Number.parseFloat(call.success) < 100, `web -> payments below 100%: ${JSON.stringify(call)}`);
    const inventory = rows.find((r) => r.key === 'inventory');
    assert.equal(inventory?.health, 'healthy', 'inventory is unaffected');
    assert.match(await inPage<string>(page, `document.getElementById('summary').textContent`), /1 failing/);
    // Failed fetches (401 for the page without a token, 404 for an API this build lacks) are logged by the browser; nothing else may be.
    assert.deepEqual(errors.filter((e) => !/Failed to load resource/.test(e)), [], 'no script error and no CSP refusal');
  });
});
