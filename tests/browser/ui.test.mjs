// Browser tests of the page `ratchet serve` serves at `/`: headless Chromium driven by
// playwright-core against a real server on a private copy of the registry.
//
//   cd tests/browser && npm ci && node --test
//
// Environment: CHROMIUM (default /usr/bin/chromium; the tests skip when it is missing),
// RATCHET_BIN (default ../../target/release/ratchet, relative to this file), SCREENSHOTS_DIR
// (when set, full-page PNGs of every tab are written there).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RATCHET_BIN = process.env.RATCHET_BIN
  ? path.resolve(process.env.RATCHET_BIN)
  : path.resolve(HERE, '../../target/release/ratchet');
const REGISTRY = path.resolve(HERE, '../../registry');
const SCREENSHOTS_DIR = process.env.SCREENSHOTS_DIR || '';
const HAVE_CHROMIUM = fs.existsSync(CHROMIUM);
const SKIP_WHY = `chromium not found at ${CHROMIUM} (install it or set CHROMIUM=/path/to/chromium)`;

const MODEL = 'qwen3_30b_a3b_moe';
const MID = 'NPU Mid';
const MID_FILE = 'tiers/07-npu-mid.ron';
const DECODE_CELL = `table#ladder tr[data-tier="${MID}"] td.decode`;

let tmp = null;
let server = null;
let serverLog = '';
let baseUrl = '';
let browser = null;

// ---------------------------------------------------------------------------------------
// Server and browser
// ---------------------------------------------------------------------------------------

function startServer(registryDir) {
  return new Promise((resolve, reject) => {
    const args = ['serve', '--addr', '127.0.0.1:0', '--registry', registryDir, '--pack', 'drone-soc', '--debounce-ms', '50'];
    const child = spawn(RATCHET_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    server = child;
    let done = false;
    const finish = (err, url) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(url);
    };
    const timer = setTimeout(() => finish(new Error(`no "listening on" line from ${RATCHET_BIN} within 30 s; output:\n${serverLog}`)), 30000);
    const pending = { stdout: '', stderr: '' };
    for (const stream of ['stdout', 'stderr']) {
      child[stream].setEncoding('utf8');
      child[stream].on('data', (chunk) => {
        serverLog += chunk;
        if (serverLog.length > 200000) serverLog = serverLog.slice(-100000);
        pending[stream] += chunk;
        const lines = pending[stream].split('\n');
        pending[stream] = lines.pop();
        for (const line of lines) {
          const m = line.match(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
          if (m) finish(null, m[1]);
        }
      });
    }
    child.on('error', (e) => finish(new Error(`cannot start ${RATCHET_BIN}: ${e.message} (build it with \`cargo build --release\` or set RATCHET_BIN)`)));
    child.on('exit', (code, signal) => finish(new Error(`${RATCHET_BIN} exited (${signal || code}) before listening; output:\n${serverLog}`)));
  });
}

async function stopServer() {
  const child = server;
  server = null;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

// never leave a server behind, whatever happens to this process
process.on('exit', () => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
});

before(async () => {
  if (!HAVE_CHROMIUM) return;
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'ratchet-ui-'));
  const registryCopy = path.join(tmp, 'registry');
  await fsp.cp(REGISTRY, registryCopy, { recursive: true });
  baseUrl = await startServer(registryCopy);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless=new'] });
});

after(async () => {
  try {
    if (browser) await browser.close();
  } finally {
    browser = null;
    await stopServer();
    if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/** A fresh 1280×800 page that records uncaught errors and console errors. */
async function openPage(t, hash = '') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    // the browser logs every 4xx answer; the plan test provokes one on purpose
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())) return;
    problems.push(`console: ${msg.text()}`);
  });
  t.after(() => context.close());
  await page.goto(`${baseUrl}/${hash}`);
  await waitForText(page, '#live', /generation \d+/, 15000);
  return { page, problems };
}

/** Waits until the element's text matches `re`; on timeout fails with the text it had. */
async function waitForText(page, selector, re, timeout = 15000) {
  try {
    await page.waitForFunction(
      ([sel, src, flags]) => {
        const el = document.querySelector(sel);
        return !!el && new RegExp(src, flags).test(el.textContent || '');
      },
      [selector, re.source, re.flags],
      { timeout, polling: 100 },
    );
  } catch (e) {
    const text = await page.evaluate((sel) => {
      const el = document.querySelector(sel);
      return el ? el.textContent : null;
    }, selector).catch(() => null);
    assert.fail(`${selector}: waited ${timeout} ms for ${re}, ${text === null ? 'no such element' : `text is ${JSON.stringify(text.trim().slice(0, 400))}`}\n(${e.message.split('\n')[0]})`);
  }
}

const generationOf = async (page) => Number(((await page.textContent('#live')) || '').match(/generation (\d+)/)?.[1]);

async function screenshot(page, name) {
  if (!SCREENSHOTS_DIR) return;
  await fsp.mkdir(SCREENSHOTS_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS_DIR, name), fullPage: true });
}

function skipUnlessReady(t) {
  if (!HAVE_CHROMIUM) {
    t.skip(SKIP_WHY);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Tests (they run in order; the first one edits the registry copy)
// ---------------------------------------------------------------------------------------

test('ladder shows the measured decode and follows a registry edit live', async (t) => {
  if (!skipUnlessReady(t)) return;
  const { page, problems } = await openPage(t);
  const g0 = await generationOf(page);
  assert.ok(Number.isInteger(g0), `#live names a generation: ${await page.textContent('#live')}`);

  await page.waitForSelector(`#model option[value="${MODEL}"]`, { state: 'attached' });
  await page.selectOption('#model', MODEL);
  await waitForText(page, DECODE_CELL, /\S/);
  await waitForText(page, DECODE_CELL, /\b37\.9\b/);
  assert.match(await page.textContent(DECODE_CELL), /37\.9/);
  await screenshot(page, 'ui-ladder.png');

  const file = path.join(tmp, 'registry', MID_FILE);
  const before = await fsp.readFile(file, 'utf8');
  const from = `"${MODEL}": 37.85,`;
  assert.ok(before.includes(from), `${MID_FILE} carries ${from}`);
  await fsp.writeFile(file, before.replace(from, `"${MODEL}": 50.0,`));

  await page.waitForFunction(
    (g) => Number((document.querySelector('#live')?.textContent || '').match(/generation (\d+)/)?.[1]) > g,
    g0,
    { timeout: 15000, polling: 100 },
  ).catch(async () => assert.fail(`#live still shows "${await page.textContent('#live')}" 15 s after the edit; server output:\n${serverLog.slice(-2000)}`));
  await waitForText(page, DECODE_CELL, /\b50\.0\b/, 15000);
  assert.ok((await generationOf(page)) > g0);
  assert.deepEqual(problems, []);
});

test('plan: cheapest tier for a decode target, and a bad target as an error', async (t) => {
  if (!skipUnlessReady(t)) return;
  const { page, problems } = await openPage(t);
  await page.click('#tab-plan');
  await page.waitForSelector('#plan-form', { state: 'visible' });
  await page.waitForSelector(`#plan-model option[value="${MODEL}"]`, { state: 'attached' });

  const tiers = (await (await fetch(`${baseUrl}/v1/tiers`)).json()).tiers.map((x) => x.name);
  assert.ok(tiers.includes(MID), `/v1/tiers lists ${MID}`);

  await page.selectOption('#question', 'cheapest_tier');
  await page.selectOption('#plan-model', MODEL);
  await page.fill('#min-decode', '20');
  await page.click('#plan-go');
  await page.waitForSelector('#plan-result .headline', { timeout: 15000 });
  const text = await page.textContent('#plan-result');
  assert.ok(!(await page.$('#plan-result.error')), `no error: ${text}`);
  assert.ok(tiers.some((n) => text.includes(n)), `#plan-result names a tier: ${text.slice(0, 400)}`);
  await screenshot(page, 'ui-plan.png');

  await page.fill('#min-decode', '-5');
  await page.click('#plan-go');
  await page.waitForSelector('#plan-result.error', { timeout: 15000 });
  const err = (await page.textContent('#plan-result.error')).trim();
  assert.ok(err.length > 0, 'the error has a message');
  assert.ok(!(await page.$('#plan-result .headline')), 'the error replaces the previous answer');
  assert.deepEqual(problems, []);
});

test('what-if: a 10-step sweep of a drone-soc slider draws a chart', async (t) => {
  if (!skipUnlessReady(t)) return;
  const { page, problems } = await openPage(t);
  await page.click('#tab-whatif');
  await page.waitForSelector('#wi-pack option[value="drone-soc"]', { state: 'attached' });
  await page.selectOption('#wi-pack', 'drone-soc');
  await page.waitForSelector('#wi-slider option', { state: 'attached' });
  assert.ok(await page.$eval('#wi-slider', (s) => s.value !== ''), 'a slider is selected');
  await page.fill('#wi-steps', '10');
  await page.click('#wi-go');
  await page.waitForSelector('#wi-chart canvas', { state: 'attached', timeout: 30000 });
  await page.waitForSelector('#wi-viable', { state: 'visible' });
  assert.match(await page.textContent('#wi-viable'), /first viable value/);
  assert.equal(await page.$eval('#wi-status', (el) => el.classList.contains('error')), false);
  await screenshot(page, 'ui-whatif.png');
  assert.deepEqual(problems, []);
});

test('registry: a tier shows every field', async (t) => {
  if (!skipUnlessReady(t)) return;
  const { page, problems } = await openPage(t);
  await page.click('#tab-registry');
  const button = `#reg-tiers button[data-tier="${MID}"]`;
  await page.waitForSelector(button, { timeout: 15000 });
  await page.click(button);
  await waitForText(page, '#reg-detail', /mem_bandwidth_gbs/);
  assert.match(await page.textContent('#reg-detail'), /07-npu-mid\.ron/, 'the detail names the file the tier came from');
  await page.waitForSelector('#reg-table option', { state: 'attached' });
  assert.ok((await page.$$('#reg-table-view table')).length > 0, 'the table browser shows a table');
  await screenshot(page, 'ui-registry.png');
  assert.deepEqual(problems, []);
});
