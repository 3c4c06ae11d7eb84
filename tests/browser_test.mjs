#!/usr/bin/env node
// The dashboard in headless Chromium against a real `txpipe up`:
//   node tests/browser_test.mjs TXPIPE OUTDIR
// Starts TXPIPE up on a free port with a fresh data dir, loads the page,
// waits (polling, with a deadline) until the finance and cars charts hold data
// and an alert is listed, then until new windows reach the charts through the
// live feed, checks there is no console error and that the page
// fits a phone's width, saves OUTDIR/dashboard.png (1280x900, full page) and
// OUTDIR/dashboard-phone.png (390 px wide), then restarts txpipe on the same
// port and checks the page goes live again by itself. txpipe must exit 0 on
// SIGINT each time. Needs Debian's chromium and web/node_modules
// (scripts/setup). Exit 0 when all holds; 1 with the reason and the end of
// txpipe's stderr otherwise.
import {spawn} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdir, mkdtemp, rm} from 'node:fs/promises';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                       '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const DATA_DEADLINE_MS = 90_000;   // first windows of both streams and an alert
const START_DEADLINE_MS = 30_000;  // txpipe prints its address
const STOP_DEADLINE_MS = 30_000;   // txpipe exits after SIGINT

if (process.argv.length !== 4) {
  console.error('usage: node tests/browser_test.mjs TXPIPE OUTDIR');
  process.exit(2);
}
const txpipeBin = resolve(process.argv[2]);
const outDir = resolve(process.argv[3]);

class Failure extends Error {}
const fail = (message) => {
  throw new Failure(message);
};
const log = (message) => console.log(`browser_test: ${message}`);

// ------------------------------------------------------------------ txpipe

// A running `txpipe up`, with its stderr kept for the failure report.
class Txpipe {
  constructor(args) {
    this.lines = [];
    this.exit = null;
    this.proc = spawn(txpipeBin, ['up', ...args], {stdio: ['ignore', 'ignore', 'pipe']});
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exit = {code, signal};
        resolve(this.exit);
      });
      this.proc.on('error', (e) => {
        this.lines.push(`(could not start ${txpipeBin}: ${e.message})`);
        this.exit = {code: null, signal: null, error: e};
        resolve(this.exit);
      });
    });
    let partial = '';
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (chunk) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop();
      this.lines.push(...parts);
      if (this.lines.length > 1000) this.lines.splice(0, this.lines.length - 1000);
    });
  }

  // The address from "txpipe up: serving http://127.0.0.1:PORT/ ...".
  async address() {
    const deadline = Date.now() + START_DEADLINE_MS;
    for (;;) {
      for (const line of this.lines) {
        const m = /serving (http:\/\/127\.0\.0\.1:(\d+)\/)/.exec(line);
        if (m) return {url: m[1], port: Number(m[2])};
      }
      if (this.exit) fail(`txpipe up exited (${JSON.stringify(this.exit)}) before serving HTTP`);
      if (Date.now() > deadline) fail(`txpipe up printed no "serving http://..." line in ${START_DEADLINE_MS / 1000} s`);
      await Promise.race([this.exited, delay(100)]);
    }
  }

  // SIGINT, then the exit status must be 0.
  async stop() {
    if (this.exit) fail(`txpipe up had already exited: ${JSON.stringify(this.exit)}`);
    this.proc.kill('SIGINT');
    const timer = delay(STOP_DEADLINE_MS).then(() => 'timeout');
    if ((await Promise.race([this.exited, timer])) === 'timeout') {
      this.proc.kill('SIGKILL');
      fail(`txpipe up did not exit within ${STOP_DEADLINE_MS / 1000} s of SIGINT`);
    }
    if (this.exit.code !== 0) fail(`txpipe up exited with ${JSON.stringify(this.exit)} after SIGINT, not 0`);
  }

  kill() {
    if (!this.exit) this.proc.kill('SIGKILL');
  }

  tail(n = 30) {
    return this.lines.slice(-n).join('\n');
  }
}

// A pause between two polls of a condition (never a wait for a result).
function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ----------------------------------------------------------------- browser

// What the page shows, for the checks and the failure report.
function pageState() {
  const charts = {};
  for (const el of document.querySelectorAll('[data-chart]')) charts[el.dataset.chart] = Number(el.dataset.points);
  return {
    status: document.querySelector('.status')?.dataset.state,
    statusText: document.querySelector('.status')?.textContent,
    charts,
    alerts: document.querySelectorAll('#alerts li.alert').length,
    recent: document.querySelectorAll('table.recent tbody tr').length,
    waiting: [...document.querySelectorAll('.waiting:not([hidden])')].map((e) => e.textContent),
  };
}

// Every finance and cars chart holds points, and an alert is listed.
function dataShown() {
  const charts = [...document.querySelectorAll('[data-chart]')];
  const of = (stream) => charts.filter((el) => el.dataset.chart.startsWith(`${stream}-`));
  const full = (list) => list.length > 0 && list.every((el) => Number(el.dataset.points) > 0);
  return full(of('finance')) && full(of('cars')) && document.querySelectorAll('#alerts li.alert').length > 0;
}

// Errors the page logged. Network errors (the server going away) are the
// browser's, not the page's: they are expected while txpipe restarts, and
// allowed otherwise only for a 503 of /api/v1/ (no store yet: the page shows
// "waiting for data").
class ConsoleWatch {
  constructor(page) {
    this.errors = [];
    this.expected = 0;
    this.allowNetwork = false;
    page.on('pageerror', (e) => this.errors.push(`page error: ${e.message}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const url = msg.location()?.url ?? '';
      const text = msg.text();
      const network = text.startsWith('Failed to load resource') || text.includes('net::ERR_');
      if (network && (this.allowNetwork || (text.includes('status of 503') && url.includes('/api/v1/')))) {
        this.expected++;
        return;
      }
      this.errors.push(`console error: ${text}${url ? ` (${url})` : ''}`);
    });
  }

  check(when) {
    if (this.errors.length) fail(`${when}: the page logged errors:\n  ${this.errors.join('\n  ')}`);
  }
}

async function waitFor(page, fn, what, timeoutMs, arg = null) {
  try {
    await page.waitForFunction(fn, arg, {polling: 250, timeout: timeoutMs});
  } catch (e) {
    const state = await page.evaluate(pageState).catch(() => null);
    fail(`${what} within ${timeoutMs / 1000} s: ${e.message.split('\n')[0]}\npage state: ${JSON.stringify(state, null, 1)}`);
  }
}

// ------------------------------------------------------------------- test

async function main() {
  if (!existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing: run scripts/setup (Debian package chromium)`);
  const webRequire = createRequire(new URL('../web/package.json', import.meta.url));
  let playwright;
  try {
    playwright = webRequire('playwright-core');
  } catch {
    fail('web/node_modules/playwright-core is missing: run scripts/setup (npm ci --prefix web)');
  }
  await mkdir(outDir, {recursive: true});
  const tmp = await mkdtemp(join(tmpdir(), 'txpipe-browser-'));
  const dataDir = join(tmp, 'data');
  let txpipe = null;
  let browser = null;
  try {
    try {
      txpipe = new Txpipe(['--data-dir', dataDir, '--listen', '127.0.0.1:0', '--rate', '200']);
      const {url, port} = await txpipe.address();
      log(`txpipe up serves ${url}`);

      browser = await playwright.chromium.launch({executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS});
      const context = await browser.newContext({viewport: {width: 1280, height: 900}});
      const page = await context.newPage();
      const watch = new ConsoleWatch(page);
      const response = await page.goto(url);
      if (!response?.ok()) fail(`GET ${url}: ${response?.status()} (does txpipe serve the dashboard: web::RegisterDashboard?)`);

      const started = Date.now();
      await waitFor(page, dataShown, 'the finance and cars charts and the alert list did not fill', DATA_DEADLINE_MS);
      const filled = await page.evaluate(pageState);
      log(`charts and alerts filled in ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(filled)}`);
      watch.check('while loading');
      // The live feed (the page does not poll): new windows reach the charts,
      // and the pipeline's chart gets its rates.
      await waitFor(page, (before) => {
        const points = (name) => Number(document.querySelector(`[data-chart="${name}"]`)?.dataset.points);
        return ['finance-rate', 'cars-count'].every((c) => points(c) > before[c] && points(c) >= 3) &&
               points('pipeline-rates') > 0;
      }, 'the charts did not grow from the live feed', DATA_DEADLINE_MS, filled.charts);
      log(`charts grew from the live feed: ${JSON.stringify((await page.evaluate(pageState)).charts)}`);
      watch.check('while live');

      await page.screenshot({path: join(outDir, 'dashboard.png'), fullPage: true});
      // A phone: the charts follow the width, nothing sticks out sideways.
      await page.setViewportSize({width: 390, height: 844});
      await waitFor(page, () => {
        const width = document.documentElement.clientWidth;
        return document.documentElement.scrollWidth <= width &&
          [...document.querySelectorAll('.uplot')].every((u) => u.getBoundingClientRect().width <= width);
      }, 'the page did not fit a 390 px wide screen', 10_000);
      await page.screenshot({path: join(outDir, 'dashboard-phone.png'), fullPage: true});
      await page.setViewportSize({width: 1280, height: 900});
      log(`screenshots in ${outDir}`);
      watch.check('after resizing');

      // A server restart: the page notices, then goes live again by itself.
      watch.allowNetwork = true;
      await txpipe.stop();
      await waitFor(page, () => document.querySelector('.status')?.dataset.state !== 'live',
                    'the page did not notice that txpipe stopped', 15_000);
      txpipe = new Txpipe(['--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--rate', '200']);
      await txpipe.address();
      await waitFor(page, () => document.querySelector('.status')?.dataset.state === 'live' &&
                                [...document.querySelectorAll('[data-chart^="finance-"]')]
                                  .every((el) => Number(el.dataset.points) > 0),
                    'the page did not go live again after txpipe restarted', 45_000);
      log('live again after a restart');
      watch.check('across the restart');
      log(`${watch.expected} expected network errors (503 before the store existed, or the restart)`);
      await browser.close();
      browser = null;

      await txpipe.stop();
      log('txpipe up stopped with exit status 0');
    } catch (e) {
      if (e instanceof Failure) throw e;
      fail(`${e.stack ?? e}`);
    }
  } catch (e) {
    console.error(`browser_test: FAILED: ${e.message}`);
    if (txpipe) console.error(`--- last 30 lines of txpipe's stderr ---\n${txpipe.tail(30)}`);
    process.exitCode = 1;
  } finally {
    await browser?.close().catch(() => {});
    txpipe?.kill();
    if (txpipe && !txpipe.exit) await txpipe.exited;
    await rm(tmp, {recursive: true, force: true});
  }
  if (!process.exitCode) console.log('browser_test: 1 passed, 0 failed');
}

await main();
