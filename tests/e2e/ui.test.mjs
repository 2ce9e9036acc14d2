// Browser test of the web UI as the engine serves it: a real `keygate serve` on a port the OS
// picks, a throwaway KEYGATE_HOME and keyring service, and the system Chromium driven by
// playwright-core (no browser download).
//
// Key tests go to a fake OpenAI-style provider started here on a port the OS picks: it lists two
// models for one key and answers 401 for another. It also answers chat completions (with usage)
// for the good key, so requests sent through the proxy fill the usage charts and tables.
//
// Needs: KEYGATE_BIN (the `keygate` CLI; defaults to target/debug/keygate), a working OS keyring
// (run inside dbus-run-session with gnome-keyring unlocked), /usr/bin/chromium.
// Run: cd tests/e2e && npm ci && npm test

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const ARTIFACTS = path.join(HERE, 'artifacts');
const KEYGATE_BIN = process.env.KEYGATE_BIN ?? path.join(REPO, 'target', 'debug', 'keygate');
const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const READY_TIMEOUT_MS = 30_000;
const UI_URL_LINE = /Web UI: (http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/;
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

const suffix = randomBytes(6).toString('hex');
const OPENAI_SECRET = `sk-e2e-${randomBytes(16).toString('hex')}`;
const VAULT_SECRET = `sk-ant-e2e-${randomBytes(16).toString('hex')}`;
const FAKE_GOOD_SECRET = `sk-fake-good-${randomBytes(16).toString('hex')}`;
const FAKE_BAD_SECRET = `sk-fake-bad-${randomBytes(16).toString('hex')}`;
const SECRETS = [OPENAI_SECRET, VAULT_SECRET, FAKE_GOOD_SECRET, FAKE_BAD_SECRET];
// e2e-main, e2e-vault, and e2e-good and e2e-bad of the fake provider.
const SEEDED_KEYS = 4;
const SEEDED_PROVIDERS = 3;

let tmp;
let env;
let server; // { child, stdout, stderr, exited }
let uiUrl; // as printed, with the token fragment
let baseUrl; // origin + '/'
let adminToken;
let browser;
let fake; // the fake provider's http.Server
let accessToken; // a client token for the proxy (`keygate token create`)

/** Runs the CLI to completion; rejects with its stderr when it exits non-zero. */
function runCli(args, { input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(KEYGATE_BIN, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve({ stdout, stderr });
      else reject(new Error(`keygate ${args.join(' ')} exited ${code}\n--- stderr ---\n${stderr}\n--- stdout ---\n${stdout}`));
    });
    child.stdin.end(input ?? '');
  });
}

/** Starts `keygate serve --port 0` and resolves once it printed the UI link. */
function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(KEYGATE_BIN, ['serve', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const state = { child, stdout: '', stderr: '', exited: null };
    let settled = false;

    const fail = (why) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${why}\n--- stderr ---\n${state.stderr}\n--- stdout ---\n${state.stdout}`));
    };
    const look = () => {
      if (settled) return;
      const match = UI_URL_LINE.exec(state.stdout.replace(ANSI, ''));
      if (match) {
        settled = true;
        clearTimeout(timer);
        resolve({ state, url: match[1] });
      }
    };

    const timer = setTimeout(() => fail(`keygate serve printed no "Web UI:" line within ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
    child.stdout.on('data', (chunk) => {
      state.stdout += chunk;
      look();
    });
    child.stderr.on('data', (chunk) => (state.stderr += chunk));
    child.on('error', (error) => fail(`could not start ${KEYGATE_BIN}: ${error.message}`));
    state.exited = new Promise((done) => {
      child.on('exit', (code, signal) => {
        done({ code, signal });
        fail(`keygate serve exited early (code ${code}, signal ${signal})`);
      });
    });
  });
}

async function stopServer() {
  if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill('SIGTERM');
  const timeout = new Promise((resolve) => setTimeout(() => resolve('timeout'), 10_000).unref());
  if ((await Promise.race([server.exited, timeout])) === 'timeout') {
    server.child.kill('SIGKILL');
    await server.exited;
    assert.fail('keygate serve did not stop within 10 s of SIGTERM');
  }
}

async function filesUnder(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/**
 * The fake provider: `GET /v1/models` lists two models for the good key and refuses any other;
 * `POST /v1/chat/completions` answers the good key with a fixed usage (1200 prompt, 300
 * completion tokens) and refuses any other.
 */
function startFakeProvider() {
  const server = http.createServer((req, res) => {
    const send = (status, body, headers = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const { pathname } = new URL(req.url, 'http://fake');
      const good = req.headers.authorization === `Bearer ${FAKE_GOOD_SECRET}`;
      const refuse = () => send(401, { error: { message: 'bad key', type: 'invalid_request_error', code: 'invalid_api_key' } });
      if (req.method === 'GET' && pathname === '/v1/models') {
        if (!good) return refuse();
        send(
          200,
          { object: 'list', data: [{ id: 'fake-a' }, { id: 'fake-b' }] },
          { 'x-ratelimit-limit-requests': '500', 'x-ratelimit-remaining-requests': '499', 'x-ratelimit-reset-requests': '120ms' },
        );
      } else if (req.method === 'POST' && pathname === '/v1/chat/completions') {
        if (!good) return refuse();
        let model = 'fake-a';
        try {
          model = JSON.parse(raw).model ?? model;
        } catch {
          // keep the default
        }
        send(200, {
          id: `chatcmpl-${randomBytes(4).toString('hex')}`,
          object: 'chat.completion',
          created: Math.floor(Date.now() / 1000),
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: 1200, completion_tokens: 300, total_tokens: 1500 },
        });
      } else {
        send(404, { error: { message: `no route ${req.method} ${pathname}`, type: 'invalid_request_error' } });
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Sends one chat completion through KeyGate's proxy with the client token; returns the status. */
async function proxyChat(model) {
  const response = await fetch(new URL('v1/chat/completions', baseUrl), {
    method: 'POST',
    headers: { Authorization: `Bearer ${accessToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const text = await response.text();
  for (const secret of SECRETS) assert.ok(!text.includes(secret), 'the proxy answered with a secret');
  return { status: response.status, text };
}

/**
 * Screenshots the whole page (up to `maxHeight`): the app scrolls inside <main>, so the
 * viewport grows to fit it.
 */
async function screenshotPage(page, name, maxHeight = 2400) {
  await mkdir(ARTIFACTS, { recursive: true });
  const height = await page.evaluate(() => {
    const main = document.querySelector('main');
    return main ? main.scrollHeight : document.documentElement.scrollHeight;
  });
  await page.setViewportSize({ width: 1280, height: Math.max(800, Math.min(height, maxHeight)) });
  await page.waitForTimeout(150);
  await page.mouse.move(0, 0);
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}

/** Waits until every server-rendered chart on the page has loaded an image with a real size. */
async function chartsDrawn(page, count) {
  await page.waitForFunction(
    (n) => {
      const charts = [...document.querySelectorAll('[data-testid^="chart-"]')];
      return (
        charts.length === n &&
        charts.every((c) => {
          const img = c.querySelector('img');
          return c.dataset.state === 'ready' && img && img.complete && img.naturalWidth > 0 && img.getBoundingClientRect().height > 0;
        })
      );
    },
    count,
    { timeout: 15_000 },
  );
}

/** Calls the admin API as the UI would; returns the parsed JSON body. */
async function api(method, urlPath, body) {
  const response = await fetch(new URL(urlPath, baseUrl), {
    method,
    headers: { Authorization: `Bearer ${adminToken}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  assert.equal(response.status, 200, `${method} /${urlPath}: ${text}`);
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `${method} /${urlPath} returned a secret`);
  return JSON.parse(text);
}

async function keyId(label) {
  const key = (await apiKeys()).find((k) => k.label === label);
  assert.ok(key, `no key labelled ${label}`);
  return key.id;
}

async function openKeysPage(page) {
  await page.goto(uiUrl);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Keys/ }).click();
  await page.getByRole('heading', { level: 1, name: 'Keys' }).waitFor();
  await page.waitForFunction((n) => document.querySelectorAll('tbody tr[data-key-id]').length === n, SEEDED_KEYS);
}

/** A day three days from now as YYYY-MM-DD: inside the 7-day warning window. */
function inThreeDays() {
  return new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
}

async function apiKeys() {
  const response = await fetch(new URL('api/keys', baseUrl), { headers: { Authorization: `Bearer ${adminToken}` } });
  const text = await response.text();
  assert.equal(response.status, 200, `GET /api/keys: ${text}`);
  for (const secret of SECRETS) assert.ok(!text.includes(secret), 'GET /api/keys returned a secret');
  return JSON.parse(text).keys;
}

async function newPage(t) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  t.after(() => context.close());
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  t.after(() => assert.deepEqual(pageErrors, [], 'uncaught errors in the page'));
  return page;
}

async function assertNoSecretsIn(page) {
  const text = await page.evaluate(() => document.documentElement.innerText);
  const html = await page.content();
  for (const secret of SECRETS) {
    assert.ok(!text.includes(secret), 'a secret is visible on the page');
    assert.ok(!html.includes(secret), 'a secret is in the page markup');
  }
}

before(async () => {
  assert.ok(existsSync(KEYGATE_BIN), `no keygate binary at ${KEYGATE_BIN}; build it or set KEYGATE_BIN`);
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}; apt-get install chromium`);

  tmp = await mkdtemp(path.join(os.tmpdir(), 'keygate-e2e-'));
  fake = await startFakeProvider();
  env = {
    ...process.env,
    KEYGATE_HOME: path.join(tmp, 'home'),
    // No background health probes: the seeded keys name real providers.
    KEYGATE_HEALTH_CHECKER: 'off',
    KEYGATE_KEYRING_SERVICE: `keygate-e2e-${suffix}`,
    E2E_OPENAI_KEY: OPENAI_SECRET,
    E2E_FAKE_GOOD_KEY: FAKE_GOOD_SECRET,
    E2E_FAKE_BAD_KEY: FAKE_BAD_SECRET,
    NO_COLOR: '1',
  };
  delete env.KEYGATE_ADMIN_TOKEN;
  delete env.KEYGATE_PORT;

  // One key as an env reference, one whose secret goes into the keyring through stdin.
  await runCli(['key', 'add', '--provider', 'openai', '--label', 'e2e-main', '--tag', 'e2e', '--secret-env', 'E2E_OPENAI_KEY']);
  await runCli(['key', 'add', '--provider', 'anthropic', '--label', 'e2e-vault', '--tag', 'e2e'], { input: VAULT_SECRET });
  const fakeUrl = `http://127.0.0.1:${fake.address().port}/v1`;
  await runCli(['provider', 'add', 'fakeprov', '--kind', 'openai', '--base-url', fakeUrl]);
  await runCli(['key', 'add', '--provider', 'fakeprov', '--label', 'e2e-good', '--expires', inThreeDays(), '--secret-env', 'E2E_FAKE_GOOD_KEY']);
  await runCli(['key', 'add', '--provider', 'fakeprov', '--label', 'e2e-bad', '--secret-env', 'E2E_FAKE_BAD_KEY']);
  accessToken = JSON.parse((await runCli(['token', 'create', 'e2e-tool', '--json'])).stdout).token;
  assert.ok(accessToken, 'keygate token create --json printed no token');

  const started = await startServer();
  server = started.state;
  uiUrl = started.url;
  baseUrl = `${new URL(uiUrl).origin}/`;
  adminToken = decodeURIComponent(uiUrl.slice(uiUrl.indexOf('#token=') + '#token='.length));

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-quic',
      '--no-first-run',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  await stopServer();
  // Best effort: take the keyring-backed secret out of the throwaway keyring service again.
  if (env && server) {
    try {
      const { stdout } = await runCli(['key', 'list', '--json']);
      const listed = JSON.parse(stdout);
      const ids = (Array.isArray(listed) ? listed : listed.keys ?? []).map((k) => k.id).filter(Boolean);
      if (ids.length) await runCli(['key', 'rm', ...ids]);
    } catch {
      // Cleaning up must not hide the real result.
    }
  }
  if (fake) {
    fake.closeAllConnections();
    await new Promise((resolve) => fake.close(resolve));
  }
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('web UI served by keygate serve', () => {
  test('the dashboard counts the seeded keys in its health tiles', async (t) => {
    const page = await newPage(t);
    await page.goto(uiUrl);
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();

    const tiles = ['healthy', 'degraded', 'unhealthy', 'grey'].map((g) => `[data-testid="tile-${g}"]`).join(',');
    await page.waitForFunction(
      (selector) => [...document.querySelectorAll(selector)].every((el) => el.dataset.count !== ''),
      tiles,
    );
    const counts = await page.$$eval(tiles, (els) => els.map((el) => Number(el.dataset.count)));
    assert.equal(counts.reduce((a, b) => a + b, 0), SEEDED_KEYS, `tile counts ${counts.join('/')}`);
    assert.equal(await page.getAttribute('[data-testid="tile-providers"]', 'data-count'), String(SEEDED_PROVIDERS));

    // A tile leads to the keys in that state.
    const [group] = await page.$$eval(tiles, (els) =>
      els.filter((el) => Number(el.dataset.count) > 0).map((el) => el.dataset.testid.replace('tile-', '')),
    );
    const expected = counts[['healthy', 'degraded', 'unhealthy', 'grey'].indexOf(group)];
    await page.click(`[data-testid="tile-${group}"]`);
    await page.getByRole('heading', { level: 1, name: 'Keys' }).waitFor();
    assert.match(page.url(), new RegExp(`#/keys\\?state=${group}$`));
    await page.waitForFunction((n) => document.querySelectorAll('tbody tr[data-key-id]').length === n, expected);
    await assertNoSecretsIn(page);
  });

  test('the keys page lists the seeded key with fingerprint and provider, never the secret', async (t) => {
    const keys = await apiKeys();
    const main = keys.find((k) => k.label === 'e2e-main');
    assert.ok(main, `e2e-main missing from /api/keys: ${JSON.stringify(keys)}`);
    assert.equal(main.provider, 'openai');

    const page = await newPage(t);
    await page.goto(uiUrl);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Keys/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Keys' }).waitFor();

    const row = page.locator('tbody tr', { hasText: 'e2e-main' });
    await row.waitFor();
    const rowText = await row.innerText();
    assert.ok(rowText.includes(main.fingerprint), `row "${rowText}" lacks fingerprint ${main.fingerprint}`);
    assert.ok(rowText.includes('openai'), `row "${rowText}" lacks the provider`);
    const rowCount = (n) => page.waitForFunction((m) => document.querySelectorAll('tbody tr[data-key-id]').length === m, n);
    await rowCount(SEEDED_KEYS);

    await page.getByRole('searchbox', { name: 'Search keys' }).fill('e2e-vault');
    await rowCount(1);
    await page.getByRole('searchbox', { name: 'Search keys' }).fill('');

    await assertNoSecretsIn(page);
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'keys.png'), fullPage: true });
  });

  test('without a token the UI explains how to open it', async (t) => {
    const page = await newPage(t);
    await page.goto(baseUrl);
    await page.getByTestId('needs-token').waitFor();
    await page.getByRole('heading', { level: 1, name: 'Open KeyGate with its link' }).waitFor();
    assert.ok((await page.innerText('body')).includes('keygate serve'));
    assert.equal(await page.getByRole('heading', { name: 'Dashboard' }).count(), 0);
  });

  test('a wrong token is refused with the same explanation', async (t) => {
    const page = await newPage(t);
    await page.goto(`${baseUrl}#token=not-the-admin-token`);
    await page.getByTestId('needs-token').waitFor();
    await page.getByText("The engine refused this tab's access token").waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('keygate.adminToken')), null);
  });

  test('the token moves into sessionStorage and out of the address bar', async (t) => {
    const page = await newPage(t);
    const requests = [];
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(uiUrl);
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();

    assert.equal(await page.evaluate(() => sessionStorage.getItem('keygate.adminToken')), adminToken);
    const href = await page.evaluate(() => location.href);
    assert.ok(!href.includes(adminToken), `token still in ${href}`);
    assert.ok(!href.includes('token='), `token fragment still in ${href}`);
    assert.ok(!(await page.evaluate(() => document.cookie)).includes(adminToken), 'token in a cookie');
    assert.ok(!(await page.evaluate(() => JSON.stringify(localStorage))).includes(adminToken), 'token in localStorage');
    // Navigation requests carry no fragment anyway; no other request may carry the token in its URL.
    for (const url of requests) assert.ok(!url.includes(adminToken), `token in request URL ${url}`);

    // A reload stays signed in from sessionStorage.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
  });

  test('Test on a row shows the result in place, and a refused key turns red', async (t) => {
    const page = await newPage(t);
    await openKeysPage(page);

    const good = page.locator('tbody tr', { hasText: 'e2e-good' });
    assert.match(await good.innerText(), /expires in \d+ d/, 'e2e-good expires within days but has no badge');
    const heightBefore = (await good.boundingBox()).height;
    await good.getByRole('button', { name: 'Test key e2e-good' }).click();
    const goodResult = good.locator('[data-testid="test-result"][data-ok="true"]');
    await goodResult.waitFor();
    const goodText = await goodResult.innerText();
    assert.match(goodText, /working/i);
    assert.match(goodText, /\b2 models\b/);
    assert.match(goodText, /499\/500 req left/, 'headroom from the x-ratelimit headers');
    assert.equal(await goodResult.getAttribute('role'), 'status', 'the result is announced (a live region)');
    await good.locator('[data-state="healthy"] .dot.healthy').waitFor();
    assert.equal((await good.boundingBox()).height, heightBefore, 'the row changed height when the result appeared');

    // The keyboard works too: focus the bad key's button and press Enter.
    const bad = page.locator('tbody tr', { hasText: 'e2e-bad' });
    const badHeightBefore = (await bad.boundingBox()).height;
    await bad.getByRole('button', { name: 'Test key e2e-bad' }).focus();
    await page.keyboard.press('Enter');
    const badResult = bad.locator('[data-testid="test-result"][data-ok="false"]');
    await badResult.waitFor();
    assert.match(await badResult.innerText(), /revoked or mistyped/);
    assert.match(await badResult.innerText(), /HTTP 401/);
    await bad.locator('[data-state="unhealthy"] .dot.unhealthy').waitFor();
    assert.equal((await bad.boundingBox()).height, badHeightBefore, 'the bad row changed height');

    // The engine saved the verdict (the page's own reload shows it, with the reason in words).
    const saved = (await apiKeys()).find((k) => k.label === 'e2e-bad');
    assert.equal(saved.health.state, 'unhealthy');
    await page.mouse.move(0, 0);
    await assertNoSecretsIn(page);
    await page.screenshot({ path: '/tmp/keys-test.png', fullPage: true });
  });

  test('the dashboard shows a key going red live in Recent activity', async (t) => {
    const badId = await keyId('e2e-bad');
    // Back to unknown, so that the next test is a change of state again.
    await api('POST', 'api/keys/batch', { ids: [badId], action: 'reset' });

    const page = await newPage(t);
    await page.goto(uiUrl);
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    const panel = page.getByTestId('activity');
    await panel.getByTestId('activity-status').filter({ hasText: 'Live' }).waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="tile-unhealthy"]')?.dataset.count === '0');
    const liveEntries = panel.locator('li.fresh[data-kind="key_state_changed"]', { hasText: 'e2e-bad' });
    assert.equal(await liveEntries.count(), 0);

    const report = await api('POST', `api/keys/${encodeURIComponent(badId)}/test`);
    assert.equal(report.class, 'auth');
    assert.equal(report.state, 'unhealthy');

    await liveEntries.first().waitFor();
    const newest = panel.locator('li').first();
    assert.match(await newest.innerText(), /e2e-bad.*unhealthy/is);
    // The tiles follow the event rather than the 10-second background reload.
    await page.waitForFunction(() => document.querySelector('[data-testid="tile-unhealthy"]')?.dataset.count === '1', null, {
      timeout: 5_000,
    });
    await panel.scrollIntoViewIfNeeded();
    await page.screenshot({ path: '/tmp/dashboard-activity.png', fullPage: true });
  });

  test('selected keys are tested, disabled and enabled together; delete asks first', async (t) => {
    const page = await newPage(t);
    await openKeysPage(page);
    await page.getByRole('checkbox', { name: 'Select e2e-good' }).check();
    await page.getByRole('checkbox', { name: 'Select e2e-bad' }).check();
    const bar = page.getByRole('group', { name: 'Act on the selected keys' });
    await bar.getByText('2 selected').waitFor();

    await bar.getByRole('button', { name: 'Test selected' }).click();
    await page.locator('tbody tr', { hasText: 'e2e-good' }).locator('[data-testid="test-result"][data-ok="true"]').waitFor();
    await page.locator('tbody tr', { hasText: 'e2e-bad' }).locator('[data-testid="test-result"][data-ok="false"]').waitFor();

    // A disabled key shows "Disabled" as its health.
    const disabledRows = () =>
      page.$$eval('tbody tr[data-key-id]', (rows) =>
        rows.filter((r) => r.querySelector('[data-state="disabled"]')).map((r) => r.querySelector('.label').textContent.trim()).sort(),
      );
    await bar.getByRole('button', { name: 'Disable' }).click();
    await page.waitForFunction(() => document.querySelectorAll('tbody [data-state="disabled"]').length === 2);
    assert.deepEqual(await disabledRows(), ['e2e-bad', 'e2e-good']);
    assert.deepEqual((await apiKeys()).filter((k) => !k.enabled).map((k) => k.label).sort(), ['e2e-bad', 'e2e-good']);

    await bar.getByRole('button', { name: 'Enable' }).click();
    await page.waitForFunction(() => document.querySelectorAll('tbody [data-state="disabled"]').length === 0);
    assert.ok((await apiKeys()).every((k) => k.enabled));

    await bar.getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete 2 keys?' });
    await dialog.waitFor();
    const listed = await dialog.innerText();
    assert.ok(listed.includes('e2e-good') && listed.includes('e2e-bad'), `dialog lists ${listed}`);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await apiKeys()).length, SEEDED_KEYS, 'cancel deleted something');
  });

  test('the usage page draws the charts and lists proxied requests', async (t) => {
    const page = await newPage(t);
    await page.goto(uiUrl);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Usage' }).click();
    await page.getByRole('heading', { level: 1, name: 'Usage' }).waitFor();

    // Nothing went through the proxy yet: the page says how to start.
    const empty = page.getByTestId('usage-empty');
    await empty.waitFor();
    assert.match(await empty.innerText(), /keygate token create/);
    await screenshotPage(page, 'usage-empty');
    await page.setViewportSize({ width: 1280, height: 800 });

    for (let i = 0; i < 3; i += 1) {
      const { status, text } = await proxyChat('fakeprov/fake-a');
      assert.equal(status, 200, `proxied request failed: ${text}`);
    }
    // The usage writer batches; wait until the engine reports the requests.
    for (let tries = 0; ; tries += 1) {
      const usage = await api('GET', 'api/usage?by=provider');
      if (usage.total.requests >= 3) break;
      assert.ok(tries < 50, `usage never showed the proxied requests: ${JSON.stringify(usage)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    await page.getByRole('button', { name: 'Refresh usage' }).click();
    const table = page.getByTestId('usage-table');
    await table.waitFor();
    const row = table.locator('tbody tr', { hasText: 'fakeprov' });
    await row.waitFor();
    assert.match(await row.innerText(), /^fakeprov\s+3\s+0\s+3,600\s+900\s+0/);
    assert.equal(await page.getByTestId('usage-requests').locator('.value').innerText(), '3');
    await chartsDrawn(page, 6);
    const sizes = await page.$$eval('[data-testid^="chart-"] img', (imgs) => imgs.map((img) => [img.naturalWidth, img.naturalHeight]));
    for (const [w, h] of sizes) assert.ok(w > 100 && h > 100, `chart image is ${w}x${h}`);

    // A different split reloads the table (and the charts) for it.
    await page.getByRole('radiogroup', { name: 'Split by' }).getByRole('radio', { name: 'Model', exact: true }).check();
    await table.locator('tbody tr', { hasText: 'fake-a' }).waitFor();
    assert.match(page.url(), /#\/usage\?by=model$/);
    await page.getByRole('radiogroup', { name: 'Period' }).getByRole('radio', { name: '30 days', exact: true }).check();
    await page.waitForFunction(() => document.querySelector('[data-testid="usage-table"]')?.dataset.for === '30d|model');
    await chartsDrawn(page, 6);

    // The CSV download holds the rows on screen.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    assert.match(download.suggestedFilename(), /^keygate-usage-30d-by-model-\d{4}-\d{2}-\d{2}\.csv$/);
    const csv = await readFile(await download.path(), 'utf8');
    assert.match(csv, /^model,requests,errors,prompt_tokens,completion_tokens,cached_tokens,cost_usd,unpriced_requests\r\n/);
    assert.match(csv, /\r\nfake-a,3,0,3600,900,0,0\.000000,3\r\n/);

    await page.getByRole('radiogroup', { name: 'Split by' }).getByRole('radio', { name: 'Provider', exact: true }).check();
    await page.getByRole('radiogroup', { name: 'Period' }).getByRole('radio', { name: '7 days', exact: true }).check();
    await page.waitForFunction(() => document.querySelector('[data-testid="usage-table"]')?.dataset.for === '7d|provider');
    await chartsDrawn(page, 6);
    await assertNoSecretsIn(page);
  });

  test('a price set in the models dialog shows its field errors, then updates the table', async (t) => {
    const page = await newPage(t);
    await page.goto(uiUrl);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: /Models/ }).click();
    await page.getByRole('heading', { level: 1, name: 'Models & prices' }).waitFor();

    // The fake provider's models appear once synced, without a price.
    await page.getByRole('button', { name: 'Sync models of fakeprov' }).click();
    await page.getByRole('status').filter({ hasText: /fakeprov lists 2 models/ }).waitFor();
    const row = page.locator('tr[data-provider="fakeprov"][data-model="fake-a"]');
    await row.waitFor();
    assert.match(await row.innerText(), /no price/);

    await row.getByRole('button', { name: 'Edit price of fake-a on fakeprov' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit price' });
    await dialog.waitFor();
    await dialog.getByLabel('Input', { exact: true }).fill('abc');
    await dialog.getByLabel('Output', { exact: true }).fill('2');
    await dialog.getByRole('button', { name: 'Save price' }).click();
    const error = dialog.getByTestId('field-error');
    await error.waitFor();
    assert.match(await error.innerText(), /abc/);
    assert.equal(await dialog.getByLabel('Input', { exact: true }).getAttribute('aria-invalid'), 'true');
    await screenshotPage(page, 'models-price-error');
    await page.setViewportSize({ width: 1280, height: 800 });

    await dialog.getByLabel('Input', { exact: true }).fill('0.50');
    await dialog.getByLabel('Output', { exact: true }).fill('1.5');
    await dialog.getByRole('button', { name: 'Save price' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.waitForFunction(() => !document.querySelector('tr[data-provider="fakeprov"][data-model="fake-a"]')?.textContent.includes('no price'));
    const text = await row.innerText();
    assert.match(text, /\$0\.50/);
    assert.match(text, /\$1\.50/);
    const saved = (await api('GET', 'api/models?provider=fakeprov')).models.find((m) => m.model === 'fake-a');
    assert.equal(saved.priced, true);
    assert.equal(saved.input_usd, '0.500000');

    // The calculator prices a request with the new price: 1M prompt + 1M completion = $2.00.
    const calc = page.getByTestId('cost-calculator');
    await calc.getByLabel('Model').selectOption('fakeprov/fake-a');
    await calc.getByLabel('Prompt tokens').fill('1000000');
    await calc.getByLabel('Completion tokens').fill('1000000');
    await calc.getByLabel('Cached tokens').fill('0');
    assert.equal(await calc.getByTestId('calc-cost').innerText(), '$2.00');
    await assertNoSecretsIn(page);
  });

  test('a daily budget set in the limits dialog shows in the keys table', async (t) => {
    const page = await newPage(t);
    await openKeysPage(page);
    const row = page.locator('tbody tr', { hasText: 'e2e-good' });
    await row.getByRole('button', { name: 'Limits & budgets of e2e-good' }).click();
    const dialog = page.getByRole('dialog', { name: 'Limits & budgets' });
    await dialog.waitFor();

    await dialog.getByLabel('Requests / minute').fill('0');
    await dialog.getByRole('button', { name: 'Save limits' }).click();
    await dialog.getByTestId('field-error').filter({ hasText: 'At least 1' }).waitFor();

    await dialog.getByLabel('Requests / minute').fill('');
    await dialog.getByLabel('Daily budget').fill('2.50');
    await dialog.getByRole('button', { name: 'Save limits' }).click();
    await dialog.waitFor({ state: 'hidden' });

    const budget = row.getByTestId('budget');
    await budget.waitFor();
    assert.match(await budget.innerText(), /Daily spend/);
    assert.match(await budget.innerText(), /of \$2\.50/);
    const saved = (await apiKeys()).find((k) => k.label === 'e2e-good');
    assert.equal(saved.limits.daily_budget_usd, '2.50');
    assert.equal(saved.limits.rpm, null);

    // Reopening shows what was saved.
    await row.getByRole('button', { name: 'Limits & budgets of e2e-good' }).click();
    assert.equal(await dialog.getByLabel('Daily budget').inputValue(), '2.50');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await assertNoSecretsIn(page);
  });

  test('screenshots of every page, light and dark', async (t) => {
    // Priced traffic, so the cost chart and the budget bar have something to show.
    for (let i = 0; i < 4; i += 1) assert.equal((await proxyChat('fakeprov/fake-a')).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 500));

    for (const scheme of ['light', 'dark']) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: scheme });
      t.after(() => context.close());
      const page = await context.newPage();
      const pageErrors = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(uiUrl);
      await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
      assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), scheme);

      const shots = [
        { hash: '#/', heading: 'Dashboard', name: 'dashboard', charts: 2 },
        { hash: '#/keys', heading: 'Keys', name: 'keys-budgets', charts: 0 },
        { hash: '#/providers', heading: 'Providers', name: 'providers', charts: 0 },
        { hash: '#/models', heading: 'Models & prices', name: 'models', charts: 0, maxHeight: 1000 },
        { hash: '#/usage', heading: 'Usage', name: 'usage', charts: 6 },
      ];
      for (const shot of shots) {
        await page.setViewportSize({ width: 1280, height: 800 });
        await page.evaluate((hash) => (location.hash = hash), shot.hash);
        await page.getByRole('heading', { level: 1, name: shot.heading }).waitFor();
        if (shot.charts) await chartsDrawn(page, shot.charts);
        await page.locator('.skeleton').first().waitFor({ state: 'detached', timeout: 10_000 }).catch(() => {});
        await screenshotPage(page, scheme === 'light' ? shot.name : `${shot.name}-dark`, shot.maxHeight);
      }
      await assertNoSecretsIn(page);
      assert.deepEqual(pageErrors, [], `uncaught errors in the page (${scheme})`);
    }
  });

  test('no secret reached any file under KEYGATE_HOME', async () => {
    await stopServer(); // flushes the database and its WAL
    const files = await filesUnder(env.KEYGATE_HOME);
    assert.ok(files.length > 0, 'KEYGATE_HOME is empty: did the engine use it?');
    for (const file of files) {
      const bytes = await readFile(file);
      for (const secret of SECRETS) {
        assert.equal(bytes.indexOf(secret), -1, `${path.relative(tmp, file)} contains a secret`);
      }
    }
    for (const secret of SECRETS) {
      assert.ok(!server.stdout.includes(secret) && !server.stderr.includes(secret), 'keygate serve printed a secret');
    }
  });
});
