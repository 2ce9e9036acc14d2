// Browser test of the web UI as the engine serves it: a real `keygate serve` on a port the OS
// picks, a throwaway KEYGATE_HOME and keyring service, and the system Chromium driven by
// playwright-core (no browser download).
//
// Needs: KEYGATE_BIN (the `keygate` CLI; defaults to target/debug/keygate), a working OS keyring
// (run inside dbus-run-session with gnome-keyring unlocked), /usr/bin/chromium.
// Run: cd tests/e2e && npm ci && npm test

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
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
const SECRETS = [OPENAI_SECRET, VAULT_SECRET];

let tmp;
let env;
let server; // { child, stdout, stderr, exited }
let uiUrl; // as printed, with the token fragment
let baseUrl; // origin + '/'
let adminToken;
let browser;

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
  env = {
    ...process.env,
    KEYGATE_HOME: path.join(tmp, 'home'),
    // No background health probes: the seeded keys name real providers.
    KEYGATE_HEALTH_CHECKER: 'off',
    KEYGATE_KEYRING_SERVICE: `keygate-e2e-${suffix}`,
    E2E_OPENAI_KEY: OPENAI_SECRET,
    NO_COLOR: '1',
  };
  delete env.KEYGATE_ADMIN_TOKEN;
  delete env.KEYGATE_PORT;

  // One key as an env reference, one whose secret goes into the keyring through stdin.
  await runCli(['key', 'add', '--provider', 'openai', '--label', 'e2e-main', '--tag', 'e2e', '--secret-env', 'E2E_OPENAI_KEY']);
  await runCli(['key', 'add', '--provider', 'anthropic', '--label', 'e2e-vault', '--tag', 'e2e'], { input: VAULT_SECRET });

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
    assert.equal(counts.reduce((a, b) => a + b, 0), 2, `tile counts ${counts.join('/')}`);
    assert.equal(await page.getAttribute('[data-testid="tile-providers"]', 'data-count'), '2');

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
    await rowCount(2);

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
