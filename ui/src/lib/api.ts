// The only module that talks to the KeyGate engine. Components call the functions below and
// never build URLs or headers themselves.
//
// The admin token arrives once in the URL fragment (`#token=…`, printed by `keygate serve` and
// used by the desktop window), is kept in sessionStorage for this tab only, and is removed from
// the address bar straight away so it does not end up in history, bookmarks or screenshots.
// It is then traded once for an HttpOnly, SameSite=Strict session cookie (`POST /api/session`),
// so a new tab or a bookmark of the engine's address is signed in too; script never sees that
// cookie. Changes sent under the cookie carry `X-KeyGate-CSRF`. The token never goes into a
// query string.

import type { components } from './openapi';

// The engine's answers and request bodies, generated from its OpenAPI document
// (`GET /api/openapi.json`, checked in as `ui/openapi.json`; `npm run gen:api` regenerates
// `openapi.d.ts`). The names below are the ones the components use.
type Schemas = components['schemas'];

export type HealthState = Schemas['HealthState'];
export type HealthReason = Schemas['HealthReason'];

/** A key's local limits; `null` means none. Dollars are exact decimal text, e.g. "2.50". */
export type KeyLimits = Schemas['KeyLimits'];
export type BudgetKind = Schemas['BudgetKind'];
/** One budget's use in its current period; spend in micro-dollars, tokens as counted. */
export type BudgetStatus = Schemas['BudgetStatus'];

/** `reason` is widened to any text: the UI shows a fresh reason before the next reload. */
export type KeyHealth = Omit<Schemas['KeyHealth'], 'reason'> & { reason: HealthReason | string | null };
export type ApiKey = Omit<Schemas['KeyView'], 'health'> & { health: KeyHealth };

/** How a key test ended; `success` is the only good one. */
export type TestClass =
  | 'success'
  | 'auth'
  | 'quota'
  | 'rate_limited'
  | 'server_error'
  | 'timeout'
  | 'connect'
  | 'client_error'
  | 'disabled'
  | 'secret_missing'
  | 'secret_unavailable';

/** Rate-limit headers the provider sent with the test, when it sends them. */
export type Headroom = Schemas['Headroom'];
/** What `POST /api/keys/{id}/test` found. */
export type TestReport = Schemas['TestReport'];

export type BatchAction = Schemas['BatchAction'];
export type BatchResult = Schemas['BatchResult'];

export type EventKind =
  | 'key_state_changed'
  | 'key_expiring'
  | 'failover'
  | 'provider_paused'
  | 'provider_resumed'
  | 'proxy_paused'
  | 'proxy_resumed'
  | 'budget_alert'
  | 'budget_reached'
  | 'budget_reset';

/** An event as `GET /api/events/recent` keeps it. */
export type StoredEvent = Schemas['StoredEvent'];
/** An event as the live stream (`GET /api/events`) sends it. */
export type LiveEvent = Schemas['LiveEvent'];

/** Where the live event stream stands, for a small status label. */
export type StreamStatus = 'connecting' | 'live' | 'retrying';

export type Provider = Schemas['Provider'];
export type EngineHealth = Schemas['EngineHealth'];

export type UsageGroupBy = Schemas['UsageGroupBy'];
/** Totals of one group (a day, an hour, a provider, …); cost in micro-dollars. */
export type UsageRow = Schemas['UsageRow'];
export type UsageReport = Schemas['UsageReport'];

export type ChartName = 'requests' | 'tokens' | 'cost' | 'latency' | 'ttfb' | 'success';
export type ChartRange = '24h' | '7d' | '30d' | '90d';
export type ChartSplit = 'provider' | 'model' | 'key' | 'token';

export interface ChartOptions {
  range: ChartRange;
  by?: ChartSplit;
  theme: 'light' | 'dark';
  width: number;
  height: number;
}

/** A model in the catalog; prices are exact decimal text in USD per million tokens. */
export type ModelEntry = Schemas['ModelEntry'];
/** A price from a date on (`from`: a date or RFC 3339 time; absent means now). */
export type PriceInput = Schemas['PriceBody'];
export type SyncResult = Schemas['SyncResult'];

/** An error from the engine, or from failing to reach it. `message` is fit to show a person. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** Per-field problems of a rejected request body (422), keyed by the body's field names. */
  readonly fields: Record<string, string>;

  constructor(status: number, code: string, message: string, fields: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
  }

  get isUnauthorized(): boolean {
    return this.status === 401;
  }
}

const TOKEN_KEY = 'keygate.adminToken';
const FRAGMENT_TOKEN = /(^#|[?&])token=([^&]*)/;

let unauthorizedHandler: ((error: ApiError) => void) | null = null;

/**
 * Moves a `#token=…` from the address bar into sessionStorage and removes it from the URL.
 * Also accepts the token after a route (`#/keys?token=…`) and keeps that route.
 * Call once, before anything reads `location.hash`.
 */
export function adoptTokenFromUrl(): void {
  const hash = window.location.hash;
  const match = FRAGMENT_TOKEN.exec(hash);
  if (!match) return;

  const token = safeDecode(match[2]).trim();
  if (token) storeToken(token);

  let rest = hash.replace(FRAGMENT_TOKEN, (_all, lead: string) => (lead === '#' ? '#' : lead));
  rest = rest.replace(/[?&]$/, '').replace(/\?&/, '?').replace(/^#&/, '#');
  const route = rest === '#' ? '' : rest;
  const url = window.location.pathname + window.location.search + route;
  window.history.replaceState(window.history.state, '', url);
}

export function hasToken(): boolean {
  return readToken() !== null;
}

/**
 * Trades the tab's admin token for the engine's session cookie (set by the answer, HttpOnly),
 * so other tabs of this engine are signed in. Best effort: without it only this tab is.
 */
export async function openBrowserSession(): Promise<void> {
  if (!readToken()) return;
  try {
    await send('/api/session', { method: 'POST' });
  } catch {
    // This tab still works with its token.
  }
}

/** Whether this browser has a live session cookie for the engine (a tab opened without the link). */
export async function hasBrowserSession(): Promise<boolean> {
  try {
    const response = await fetch('/api/session', { headers: { Accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin' });
    return response.ok;
  } catch {
    return false;
  }
}

/** Signs this browser out: the session cookie is cleared and the tab's token forgotten. */
export async function signOut(): Promise<void> {
  try {
    await send('/api/session', { method: 'DELETE' });
  } finally {
    clearToken();
  }
}

/** Forgets the token (for example after the engine rejected it). */
export function clearToken(): void {
  try {
    window.sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage can be unavailable (privacy mode); there is then nothing to clear.
  }
}

/** Called whenever the engine answers 401, so the app can show how to get a valid link. */
export function onUnauthorized(handler: (error: ApiError) => void): void {
  unauthorizedHandler = handler;
}

/** Where local tools point their OpenAI-compatible SDKs: the engine serves `/v1` beside this UI. */
export function proxyBaseUrl(): string {
  return `${window.location.origin}/v1`;
}

/**
 * Asks the proxy (not the admin API) which models a client token sees, as a tool would:
 * `GET /v1/models` with the token. Returns the model ids.
 */
export async function modelsThroughProxy(token: string): Promise<string[]> {
  let response: Response;
  try {
    response = await fetch('/v1/models', { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' }, cache: 'no-store', credentials: 'omit' });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the KeyGate proxy.');
  }
  if (!response.ok) throw await errorFrom(response);
  const body = (await response.json()) as { data?: { id?: unknown }[] };
  return (body.data ?? []).map((m) => String(m.id ?? '')).filter(Boolean);
}

/** The engine's origin (`http://127.0.0.1:PORT`): Anthropic-style tools take it as their base URL. */
export function proxyOrigin(): string {
  return window.location.origin;
}

/** The port the engine (UI, admin API and proxy) listens on. */
export function enginePort(): string {
  return window.location.port || (window.location.protocol === 'https:' ? '443' : '80');
}

/** Takes a pasted `keygate serve` link (or a bare token) and keeps its token. Returns false if none. */
export function adoptTokenFromText(text: string): boolean {
  const trimmed = text.trim();
  const match = /[#?&]token=([^&\s]+)/.exec(trimmed);
  const token = match ? safeDecode(match[1]) : /^[^\s#?&=/]+$/.test(trimmed) ? trimmed : '';
  if (!token) return false;
  storeToken(token);
  return true;
}

export async function getEngineHealth(): Promise<EngineHealth> {
  return request<EngineHealth>('/api/health', { auth: false });
}

export async function listKeys(): Promise<ApiKey[]> {
  const body = await request<Schemas['KeyList']>('/api/keys');
  return body.keys ?? [];
}

export async function listProviders(): Promise<Provider[]> {
  const body = await request<Schemas['ProviderList']>('/api/providers');
  return body.providers ?? [];
}

export type NewProviderInput = Schemas['NewProviderBody'];
export type ProviderEdit = Schemas['ProviderEditBody'];
export type ProviderDeleted = Schemas['ProviderDeleted'];
export type ProviderTested = Schemas['ProviderTested'];

/** Adds a provider: a preset's name fills in its kind and URL; custom and Azure need `base_url`. */
export async function createProvider(input: NewProviderInput): Promise<Provider> {
  return request<Provider>('/api/providers', { method: 'POST', body: input });
}

/** Changes a provider (what is left out stays); a `null` header value removes that header. */
export async function editProvider(name: string, edit: ProviderEdit): Promise<Provider> {
  return request<Provider>(`/api/providers/${encodeURIComponent(name)}`, { method: 'PUT', body: edit });
}

/** Deletes a provider; one with keys is refused unless `withKeys` (which deletes them too). */
export async function deleteProvider(name: string, withKeys: boolean): Promise<ProviderDeleted> {
  const suffix = withKeys ? '?with_keys=true' : '';
  return request<ProviderDeleted>(`/api/providers/${encodeURIComponent(name)}${suffix}`, { method: 'DELETE' });
}

/** Tests every key of a provider with one cheap request each. */
export async function testProvider(name: string): Promise<ProviderTested> {
  return request<ProviderTested>(`/api/providers/${encodeURIComponent(name)}/test`, { method: 'POST' });
}

/** Tests one key against its provider (lists models; `deep` also sends a one-token completion). */
export async function testKey(id: string, options: { deep?: boolean } = {}): Promise<TestReport> {
  return request<TestReport>(`/api/keys/${encodeURIComponent(id)}/test`, {
    method: 'POST',
    body: { deep: options.deep ?? false } satisfies Schemas['TestOptions'],
  });
}

/** Runs one action on several keys; a test returns one report per key. */
export async function batchKeys(ids: string[], action: BatchAction, options: { deep?: boolean } = {}): Promise<BatchResult> {
  const body: Schemas['Batch'] = { ids, action };
  if (action === 'test' && options.deep) body.deep = true;
  return request<BatchResult>('/api/keys/batch', { method: 'POST', body });
}

/** Usage and cost from `from` (a date or RFC 3339 time) until now or `to`, grouped by `by`. */
export async function getUsage(options: { from: string; to?: string; by: UsageGroupBy }): Promise<UsageReport> {
  return request<UsageReport>(`/api/usage?${query({ from: options.from, to: options.to, by: options.by })}`);
}

/**
 * One server-rendered chart as SVG text. An `<img src>` cannot send the admin token, so the
 * caller shows it as a `data:` URL in an <img> (the page's CSP allows `data:` images, not
 * `blob:`; and an image never runs script from the SVG).
 */
export async function getChart(name: ChartName, options: ChartOptions): Promise<string> {
  const params = query({
    range: options.range,
    by: options.by,
    theme: options.theme,
    width: String(Math.round(options.width)),
    height: String(Math.round(options.height)),
  });
  const response = await send(`/api/charts/${encodeURIComponent(name)}.svg?${params}`, { accept: 'image/svg+xml' });
  return response.text();
}

/** The model catalog: prices in force, limits and abilities, synced models without a price. */
export async function listModels(provider?: string): Promise<ModelEntry[]> {
  const body = await request<Schemas['ModelList']>(`/api/models${provider ? `?${query({ provider })}` : ''}`);
  return body.models ?? [];
}

/** Sets a model's price from a date on; a 422 names the fields at fault in `ApiError.fields`. */
export async function setModelPrice(price: PriceInput): Promise<void> {
  await request<unknown>('/api/models/price', { method: 'PUT', body: price });
}

/** Asks the provider (through one of its keys) which models it offers. */
export async function syncModels(provider: string): Promise<SyncResult> {
  return request<SyncResult>('/api/models/sync', { method: 'POST', body: { provider } satisfies Schemas['SyncBody'] });
}

/** Replaces all of a key's limits and budgets (`null` removes one); answers the updated key. */
/** What a key edit may change; a field left out stays as it is. */
export type KeyEdit = Partial<{ label: string; tags: string[]; priority: number; weight: number; enabled: boolean }>;

/** Changes a key's label, tags, priority, weight or enabled switch; a 422 names the fields. */
export async function editKey(id: string, edit: KeyEdit): Promise<ApiKey> {
  return request<ApiKey>(`/api/keys/${encodeURIComponent(id)}`, { method: 'PUT', body: edit });
}

export async function setKeyLimits(id: string, limits: Schemas['LimitsBody']): Promise<ApiKey> {
  return request<ApiKey>(`/api/keys/${encodeURIComponent(id)}/limits`, { method: 'PUT', body: limits });
}

/** The newest saved events, newest first. */
export async function listRecentEvents(): Promise<StoredEvent[]> {
  const body = await request<Schemas['EventList']>('/api/events/recent');
  return body.events ?? [];
}

/** A provider preset the engine knows (`GET /api/presets`): picking one creates the provider. */
export type ProviderPreset = Schemas['Preset'];
export type NewKeyInput = Schemas['NewKeyBody'];
/** What `POST /api/keys/check` found for a secret that is not saved (`key_id` and `label` empty). */
export type CheckReport = Schemas['TestReport'];
export type ImportFormat = Schemas['ImportFormat'];
export type ImportedKey = Schemas['ImportedKey'];
export type ImportResult = Schemas['ImportResult'];
export type AttemptLog = Schemas['AttemptLog'];
/** One proxied request from the request log. */
export type RequestLog = Schemas['RequestRow'];
export type AccessToken = Schemas['TokenRow'];
/** A token as created: `token` is shown this once and never again. */
export type CreatedToken = Schemas['CreatedToken'];
export type NewTokenInput = Schemas['NewTokenBody'];
export type RouteTier = Schemas['RouteTier'];
export type ModelRoute = Schemas['RouteRow'];
export type SavedRoute = Schemas['SavedRoute'];
export type EngineSetting = Schemas['EngineSetting'];
export type HealthCheckConfig = Schemas['CheckerConfig'];

/** The provider presets (OpenAI, Anthropic, …) a key can be added for. */
export async function listPresets(): Promise<ProviderPreset[]> {
  const body = await request<Schemas['PresetList']>('/api/presets');
  return body.presets ?? [];
}

/** Saves a key; the secret goes to the keyring and is never sent back. 422 names fields. */
export async function createKey(input: NewKeyInput): Promise<ApiKey> {
  return request<ApiKey>('/api/keys', { method: 'POST', body: input });
}

/** "Test before save": tries a secret against a provider without storing anything. */
export async function checkSecret(provider: string, secret: string): Promise<CheckReport> {
  return request<CheckReport>('/api/keys/check', { method: 'POST', body: { provider, secret } satisfies Schemas['CheckBody'] });
}

/** Imports keys from CSV or TOML text; `dryRun` previews. A 422 names rows as `line N`. */
/** `provider` is for `lines` (one key per line): the provider of every key. */
export async function importKeys(format: ImportFormat, text: string, dryRun: boolean, provider?: string): Promise<ImportResult> {
  const body: Schemas['ImportBody'] = { format, text, dry_run: dryRun };
  if (provider) body.provider = provider;
  return request<ImportResult>('/api/keys/import', { method: 'POST', body });
}

/** The newest proxied requests, newest first, each with its attempts. */
/** Which requests a log page holds; empty fields do not filter (see `GET /api/logs`). */
export interface LogFilter {
  from?: string;
  status?: string;
  provider?: string;
  key?: string;
  token?: string;
  model?: string;
  q?: string;
}

export interface LogPage {
  requests: RequestLog[];
  /** Pass as `before` for the next, older page; null on the last one. */
  next: string | null;
}

/** A page of the request log, newest first, filtered on the engine. */
export async function listLogs(filter: LogFilter = {}, options: { limit?: number; before?: string | null } = {}): Promise<LogPage> {
  const params: Record<string, string | undefined> = { ...filter, limit: String(options.limit ?? 100), before: options.before ?? undefined };
  const body = await request<Schemas['RequestList']>(`/api/logs?${query(params)}`);
  return { requests: body.requests ?? [], next: body.next ?? null };
}

export async function listTokens(): Promise<AccessToken[]> {
  const body = await request<Schemas['TokenList']>('/api/tokens');
  return body.tokens ?? [];
}

/** Creates a client token; the answer holds the token itself, the only time it is shown. */
export async function createToken(input: NewTokenInput): Promise<CreatedToken> {
  return request<CreatedToken>('/api/tokens', { method: 'POST', body: input });
}

export async function revokeToken(name: string): Promise<void> {
  await request<unknown>(`/api/tokens/${encodeURIComponent(name)}`, { method: 'DELETE' });
}

/** A tool `keygate connect` can set up, and where it stands. */
export type ToolStatus = Schemas['ToolStatus'];
export type ToolState = Schemas['ToolState'];
/** What connecting a tool changed (or, with `dryRun`, would change): a diff per file. */
export type ConnectOutcome = Schemas['ConnectOutcome'];
export type UndoOutcome = Schemas['UndoOutcome'];

export async function listConnections(): Promise<ToolStatus[]> {
  const body = await request<Schemas['ToolList']>('/api/connect');
  return body.tools ?? [];
}

export type ServeFrom = Schemas['ServeFrom'];

/**
 * Points `tool` at KeyGate (its config files, a token of its own); `dryRun` only shows the
 * diff; `serveFrom` serves the models it asks for from a provider of the user's choice.
 */
export async function connectTool(tool: string, options: { dryRun?: boolean; model?: string; serveFrom?: ServeFrom } = {}): Promise<ConnectOutcome> {
  const body: { dry_run?: boolean; model?: string; serve_from?: ServeFrom } = {};
  if (options.dryRun) body.dry_run = true;
  if (options.model) body.model = options.model;
  if (options.serveFrom) body.serve_from = options.serveFrom;
  return request<ConnectOutcome>(`/api/connect/${encodeURIComponent(tool)}`, { method: 'POST', body });
}

/** Undoes a connect: the tool's files as they were, its token revoked. */
export async function disconnectTool(tool: string): Promise<UndoOutcome> {
  return request<UndoOutcome>(`/api/connect/${encodeURIComponent(tool)}`, { method: 'DELETE' });
}

export async function listRoutes(): Promise<ModelRoute[]> {
  const body = await request<Schemas['RouteList']>('/api/routes');
  return body.routes ?? [];
}

/** Creates or replaces a route alias. */
export async function saveRoute(alias: string, tiers: RouteTier[], strategy: string): Promise<SavedRoute> {
  return request<SavedRoute>(`/api/routes/${encodeURIComponent(alias)}`, { method: 'PUT', body: { tiers, strategy } satisfies Schemas['RouteBody'] });
}

export async function deleteRoute(alias: string): Promise<void> {
  await request<unknown>(`/api/routes/${encodeURIComponent(alias)}`, { method: 'DELETE' });
}

/** Proxy and retention settings: the value in force, its source, and when a change applies. */
export async function listSettings(): Promise<EngineSetting[]> {
  const body = await request<Schemas['SettingList']>('/api/settings');
  return body.settings ?? [];
}

export async function saveSetting(name: string, value: number): Promise<void> {
  await request<unknown>(`/api/settings/${encodeURIComponent(name)}`, { method: 'PUT', body: { value } satisfies Schemas['SettingBody'] });
}

export async function getHealthCheckConfig(): Promise<HealthCheckConfig> {
  return request<HealthCheckConfig>('/api/health-check/config');
}

/** Saved and in force at once. */
export async function saveHealthCheckConfig(config: HealthCheckConfig): Promise<HealthCheckConfig> {
  return request<HealthCheckConfig>('/api/health-check/config', { method: 'PUT', body: config });
}

export async function getProxyPaused(): Promise<boolean> {
  return (await request<Schemas['ProxyState']>('/api/proxy/state')).paused;
}

/** Pauses or resumes the proxy at once; answers the state in force. */
export async function setProxyPaused(paused: boolean): Promise<boolean> {
  return (await request<Schemas['ProxyState']>('/api/proxy/state', { method: 'PUT', body: { paused } satisfies Schemas['ProxyState'] })).paused;
}

const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/**
 * Follows the engine's live events until the returned function is called. EventSource cannot
 * send the admin token, so this reads the server-sent-event stream with fetch and parses it
 * here. When the stream drops it reconnects with a growing pause; `onStatus('live')` fires on
 * every (re)connect, so a caller can reload what it may have missed in between.
 */
export function watchEvents(handlers: { onEvent: (event: LiveEvent) => void; onStatus?: (status: StreamStatus) => void }): () => void {
  const controller = new AbortController();
  let retryMs = RETRY_FIRST_MS;
  let retryTimer: number | null = null;

  const connect = async (): Promise<void> => {
    handlers.onStatus?.('connecting');
    const token = readToken();
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (token) headers.Authorization = `Bearer ${token}`;
    try {
      const response = await fetch('/api/events', {
        headers,
        cache: 'no-store',
        credentials: 'same-origin',
        signal: controller.signal,
      });
      if (!response.ok || !response.body) {
        const error = await errorFrom(response);
        if (error.isUnauthorized) {
          unauthorizedHandler?.(error);
          return;
        }
        throw error;
      }
      retryMs = RETRY_FIRST_MS;
      handlers.onStatus?.('live');
      await readEventStream(response.body, (kind, data) => {
        let event: LiveEvent;
        try {
          event = JSON.parse(data) as LiveEvent;
        } catch {
          return; // Not one of ours; keep reading.
        }
        handlers.onEvent({ ...event, kind: event.kind ?? kind });
      });
    } catch {
      // Dropped or unreachable: retried below unless the caller stopped us.
    }
    if (controller.signal.aborted) return;
    handlers.onStatus?.('retrying');
    retryTimer = window.setTimeout(() => void connect(), retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  };

  void connect();
  return () => {
    controller.abort();
    if (retryTimer !== null) window.clearTimeout(retryTimer);
  };
}

/** Calls `dispatch(event, data)` for each message of a `text/event-stream` body until it ends. */
async function readEventStream(body: ReadableStream<Uint8Array>, dispatch: (kind: string, data: string) => void): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let kind = '';
  let data: string[] = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    // The engine ends lines with LF; CRLF is accepted too (a lone CR, allowed by the spec, is not).
    const lines = buffer.split(/\r?\n/);
    buffer = lines.pop() ?? ''; // the last piece may be half a line
    for (const line of lines) {
      if (line === '') {
        // A blank line ends one message.
        if (data.length) dispatch(kind || 'message', data.join('\n'));
        kind = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue; // keep-alive comment
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') kind = value;
      else if (field === 'data') data.push(value);
    }
  }
}

function storeToken(token: string): void {
  try {
    window.sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Without storage the token cannot survive a reload; the needs-token screen explains what to do.
  }
}

function readToken(): string | null {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function query(params: Record<string, string | undefined>): string {
  const defined = Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== '');
  return new URLSearchParams(defined).toString();
}

/** Sends one request to the engine and answers the response when it is a success. */
async function send(path: string, options: { auth?: boolean; method?: string; body?: unknown; accept?: string } = {}): Promise<Response> {
  const { auth = true, method = 'GET', body, accept = 'application/json' } = options;
  const headers: Record<string, string> = { Accept: accept };
  if (body !== undefined) headers['Content-Type'] = 'application/json';

  if (auth) {
    // The tab's token when it has one, else the browser's session cookie (sent by
    // `credentials: 'same-origin'`), which the engine accepts for changes only with this header.
    const token = readToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    else headers['X-KeyGate-CSRF'] = '1';
  }

  let response: Response;
  try {
    // Same origin: the engine serves this UI at `/` and the admin API at `/api`.
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the KeyGate engine. Is `keygate serve` (or the desktop app) still running?');
  }

  if (!response.ok) {
    const error = await errorFrom(response);
    if (error.isUnauthorized) unauthorizedHandler?.(error);
    throw error;
  }
  return response;
}

async function request<T>(path: string, options: { auth?: boolean; method?: string; body?: unknown } = {}): Promise<T> {
  const response = await send(path, options);
  try {
    return (await response.json()) as T;
  } catch {
    throw new ApiError(response.status, 'bad_response', `The engine sent an unreadable answer for ${path.split('?')[0]}.`);
  }
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = `The engine answered ${response.status} ${response.statusText}`.trim();
  const fields: Record<string, string> = {};
  try {
    const body: unknown = await response.json();
    const error = (body as { error?: { code?: unknown; message?: unknown; fields?: unknown } } | null)?.error;
    if (typeof error?.code === 'string') code = error.code;
    if (typeof error?.message === 'string' && error.message) message = error.message;
    if (error?.fields && typeof error.fields === 'object') {
      for (const [field, text] of Object.entries(error.fields)) if (typeof text === 'string') fields[field] = text;
    }
  } catch {
    // Not the engine's JSON error shape (a proxy or a crash page); keep the status line.
  }
  return new ApiError(response.status, code, message, fields);
}
