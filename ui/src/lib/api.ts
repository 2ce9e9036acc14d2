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

import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, operations, paths } from './openapi';

// The engine's routes, answers and request bodies, generated from its OpenAPI document
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
export type TestClass = Schemas['TestClass'];

/** Rate-limit headers the provider sent with the test, when it sends them. */
export type Headroom = Schemas['Headroom'];
/** What `POST /api/keys/{id}/test` found. */
export type TestReport = Schemas['TestReport'];

export type BatchAction = Schemas['BatchAction'];
export type BatchResult = Schemas['BatchResult'];

export type EventKind = Schemas['EventKind'];

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

export type ChartName = Schemas['ChartName'];
/** A chart's SVG with the values drawn (`null`: no data) and, when anything was drawn, its plot area. */
export type ChartData = Schemas['ChartData'];
// The ranges and splits the page offers; the engine takes any `Nh`/`Nd` and checks `by` itself.
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
    await adminApi().POST('/api/session');
  } catch {
    // This tab still works with its token.
  }
}

/** Whether this browser has a live session cookie for the engine (a tab opened without the link). */
export async function hasBrowserSession(): Promise<boolean> {
  // Plain fetch, not the admin client: this asks about the cookie alone (no token, no CSRF
  // header), and its 401 is an ordinary "no" rather than a reason to show the sign-in screen.
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
    await adminApi().DELETE('/api/session');
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
  // Plain fetch: `/v1` is the proxy, outside the admin API's document, and takes a client token.
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
  return answer(adminApi().GET('/api/health'));
}

export async function listKeys(): Promise<ApiKey[]> {
  const body = await answer(adminApi().GET('/api/keys'));
  return body.keys ?? [];
}

export async function listProviders(): Promise<Provider[]> {
  const body = await answer(adminApi().GET('/api/providers'));
  return body.providers ?? [];
}

export type NewProviderInput = Schemas['NewProviderBody'];
export type ProviderEdit = Schemas['ProviderEditBody'];
export type ProviderDeleted = Schemas['ProviderDeleted'];
export type ProviderTested = Schemas['ProviderTested'];

/** Adds a provider: a preset's name fills in its kind and URL; custom and Azure need `base_url`. */
export async function createProvider(input: NewProviderInput): Promise<Provider> {
  return answer(adminApi().POST('/api/providers', { body: input }));
}

/** Changes a provider (what is left out stays); a `null` header value removes that header. */
export async function editProvider(name: string, edit: ProviderEdit): Promise<Provider> {
  return answer(adminApi().PUT('/api/providers/{name}', { params: { path: { name } }, body: edit }));
}

/** Deletes a provider; one with keys is refused unless `withKeys` (which deletes them too). */
export async function deleteProvider(name: string, withKeys: boolean): Promise<ProviderDeleted> {
  const query = withKeys ? { with_keys: true } : undefined;
  return answer(adminApi().DELETE('/api/providers/{name}', { params: { path: { name }, query } }));
}

/** Tests every key of a provider with one cheap request each. */
export async function testProvider(name: string): Promise<ProviderTested> {
  return answer(adminApi().POST('/api/providers/{name}/test', { params: { path: { name } } }));
}

/** Tests one key against its provider (lists models; `deep` also sends a one-token completion). */
export async function testKey(id: string, options: { deep?: boolean } = {}): Promise<TestReport> {
  return answer(adminApi().POST('/api/keys/{id}/test', { params: { path: { id } }, body: { deep: options.deep ?? false } }));
}

/** Runs one action on several keys; a test returns one report per key. */
export async function batchKeys(ids: string[], action: BatchAction, options: { deep?: boolean } = {}): Promise<BatchResult> {
  const body: Schemas['Batch'] = { ids, action };
  if (action === 'test' && options.deep) body.deep = true;
  return answer(adminApi().POST('/api/keys/batch', { body }));
}

/** Usage and cost from `from` (a date or RFC 3339 time) until now or `to`, grouped by `by`. */
export async function getUsage(options: { from: string; to?: string; by: UsageGroupBy }): Promise<UsageReport> {
  return answer(adminApi().GET('/api/usage', { params: { query: { from: options.from, to: options.to, by: options.by } } }));
}

/**
 * One server-rendered chart with the values it draws, in one request: the SVG, each series'
 * value per bucket, and where the plot and each bucket are in the picture (its pixels at
 * `width`×`height`). An `<img src>` cannot send the admin token, so the caller shows the SVG as
 * a `data:` URL in an <img> (the page's CSP allows `data:` images, not `blob:`; and an image
 * never runs script from the SVG).
 */
export async function getChartData(name: ChartName, options: ChartOptions): Promise<ChartData> {
  const data = await answer(
    adminApi().GET('/api/charts/{file}', {
      params: {
        path: { file: `${name}.json` },
        query: { range: options.range, by: options.by, theme: options.theme, width: Math.round(options.width), height: Math.round(options.height) },
      },
    }),
  );
  // The route's picture formats are typed as text; asked for `.json`, text is not an answer.
  if (typeof data === 'string') throw new ApiError(200, 'bad_response', 'The engine sent a chart without its values.');
  return data;
}

/** The model catalog: prices in force, limits and abilities, synced models without a price. */
export async function listModels(provider?: string): Promise<ModelEntry[]> {
  const body = await answer(adminApi().GET('/api/models', { params: { query: { provider } } }));
  return body.models ?? [];
}

/** Sets a model's price from a date on; a 422 names the fields at fault in `ApiError.fields`. */
export async function setModelPrice(price: PriceInput): Promise<void> {
  await adminApi().PUT('/api/models/price', { body: price });
}

/** Asks the provider (through one of its keys) which models it offers. */
export async function syncModels(provider: string): Promise<SyncResult> {
  return answer(adminApi().POST('/api/models/sync', { body: { provider } }));
}

/** What a key edit may change; a field left out stays as it is. */
export type KeyEdit = Schemas['KeyEditBody'];

/** Changes a key's label, tags, priority, weight or enabled switch; a 422 names the fields. */
export async function editKey(id: string, edit: KeyEdit): Promise<ApiKey> {
  return answer(adminApi().PUT('/api/keys/{id}', { params: { path: { id } }, body: edit }));
}

/** Replaces all of a key's limits and budgets (`null` removes one); answers the updated key. */
export async function setKeyLimits(id: string, limits: Schemas['LimitsBody']): Promise<ApiKey> {
  return answer(adminApi().PUT('/api/keys/{id}/limits', { params: { path: { id } }, body: limits }));
}

/** The newest saved events, newest first. */
export async function listRecentEvents(): Promise<StoredEvent[]> {
  const body = await answer(adminApi().GET('/api/events/recent'));
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
/** An access token (a hint, never the token), its budgets' limits and where each stands now. */
export type AccessToken = Schemas['TokenView'];
/**
 * A token's spend and token budgets per UTC day and calendar month; `null` or absent is none.
 * Dollars are exact decimal text ("12.50"); tokens count prompt plus completion.
 */
export type TokenBudgets = Schemas['TokenBudgets'];
/** A token as created: `token` is shown this once and never again. */
export type CreatedToken = Schemas['CreatedToken'];
/** Name, model globs, expiry and budgets; a 422 names the fields at fault in `ApiError.fields`. */
export type NewTokenInput = Schemas['NewTokenBody'];
export type RouteTier = Schemas['RouteTier'];
export type ModelRoute = Schemas['RouteRow'];
export type SavedRoute = Schemas['SavedRoute'];
export type EngineSetting = Schemas['EngineSetting'];
export type HealthCheckConfig = Schemas['CheckerConfig'];

/** The provider presets (OpenAI, Anthropic, …) a key can be added for. */
export async function listPresets(): Promise<ProviderPreset[]> {
  const body = await answer(adminApi().GET('/api/presets'));
  return body.presets ?? [];
}

/** Saves a key; the secret goes to the keyring and is never sent back. 422 names fields. */
export async function createKey(input: NewKeyInput): Promise<ApiKey> {
  return answer(adminApi().POST('/api/keys', { body: input }));
}

/** "Test before save": tries a secret against a provider without storing anything. */
export async function checkSecret(provider: string, secret: string): Promise<CheckReport> {
  return answer(adminApi().POST('/api/keys/check', { body: { provider, secret } }));
}

/**
 * Imports keys from CSV or TOML text; `dryRun` previews. A 422 names rows as `line N`.
 * `provider` is for `lines` (one key per line): the provider of every key.
 */
export async function importKeys(format: ImportFormat, text: string, dryRun: boolean, provider?: string): Promise<ImportResult> {
  const body: Schemas['ImportBody'] = { format, text, dry_run: dryRun };
  if (provider) body.provider = provider;
  return answer(adminApi().POST('/api/keys/import', { body }));
}

/** Which requests a log page holds; empty fields do not filter (see `GET /api/logs`). */
export type LogFilter = Omit<NonNullable<operations['listLogs']['parameters']['query']>, 'limit' | 'before'>;

export interface LogPage {
  requests: RequestLog[];
  /** Pass as `before` for the next, older page; null on the last one. */
  next: string | null;
}

/** A page of the request log (each request with its attempts), newest first, filtered on the engine. */
export async function listLogs(filter: LogFilter = {}, options: { limit?: number; before?: string | null } = {}): Promise<LogPage> {
  const body = await answer(adminApi().GET('/api/logs', { params: { query: { ...filter, limit: options.limit ?? 100, before: options.before ?? undefined } } }));
  return { requests: body.requests ?? [], next: body.next ?? null };
}

export async function listTokens(): Promise<AccessToken[]> {
  const body = await answer(adminApi().GET('/api/tokens'));
  return body.tokens ?? [];
}

/** Creates a client token; the answer holds the token itself, the only time it is shown. */
export async function createToken(input: NewTokenInput): Promise<CreatedToken> {
  return answer(adminApi().POST('/api/tokens', { body: input }));
}

export async function revokeToken(name: string): Promise<void> {
  await adminApi().DELETE('/api/tokens/{name}', { params: { path: { name } } });
}

/**
 * Replaces all four of a token's budgets (`null` or absent removes one); answers the token as
 * it is now. Over a budget the proxy answers the token 429 until the period resets. 404: the
 * token is gone; 422 names the fields at fault.
 */
export async function putTokenBudgets(name: string, budgets: TokenBudgets): Promise<AccessToken> {
  return answer(adminApi().PUT('/api/tokens/{name}/budgets', { params: { path: { name } }, body: budgets }));
}

/** A tool `keygate connect` can set up, and where it stands. */
export type ToolStatus = Schemas['ToolStatus'];
export type ToolState = Schemas['ToolState'];
/** What connecting a tool changed (or, with `dryRun`, would change): a diff per file. */
export type ConnectOutcome = Schemas['ConnectOutcome'];
export type UndoOutcome = Schemas['UndoOutcome'];

export async function listConnections(): Promise<ToolStatus[]> {
  const body = await answer(adminApi().GET('/api/connect'));
  return body.tools ?? [];
}

export type ServeFrom = Schemas['ServeFrom'];

/**
 * Points `tool` at KeyGate (its config files, a token of its own); `dryRun` only shows the
 * diff; `serveFrom` serves the models it asks for from a provider of the user's choice.
 */
export async function connectTool(tool: string, options: { dryRun?: boolean; model?: string; serveFrom?: ServeFrom } = {}): Promise<ConnectOutcome> {
  const body: Schemas['ConnectRequest'] = {};
  if (options.dryRun) body.dry_run = true;
  if (options.model) body.model = options.model;
  if (options.serveFrom) body.serve_from = options.serveFrom;
  return answer(adminApi().POST('/api/connect/{tool}', { params: { path: { tool } }, body }));
}

/** Undoes a connect: the tool's files as they were, its token revoked. */
export async function disconnectTool(tool: string): Promise<UndoOutcome> {
  return answer(adminApi().DELETE('/api/connect/{tool}', { params: { path: { tool } } }));
}

export async function listRoutes(): Promise<ModelRoute[]> {
  const body = await answer(adminApi().GET('/api/routes'));
  return body.routes ?? [];
}

/** Creates or replaces a route alias. */
export async function saveRoute(alias: string, tiers: RouteTier[], strategy: string): Promise<SavedRoute> {
  return answer(adminApi().PUT('/api/routes/{alias}', { params: { path: { alias } }, body: { tiers, strategy } }));
}

export async function deleteRoute(alias: string): Promise<void> {
  await adminApi().DELETE('/api/routes/{alias}', { params: { path: { alias } } });
}

/** Proxy and retention settings: the value in force, its source, and when a change applies. */
export async function listSettings(): Promise<EngineSetting[]> {
  const body = await answer(adminApi().GET('/api/settings'));
  return body.settings ?? [];
}

export async function saveSetting(name: string, value: number): Promise<void> {
  await adminApi().PUT('/api/settings/{name}', { params: { path: { name } }, body: { value } });
}

export async function getHealthCheckConfig(): Promise<HealthCheckConfig> {
  return answer(adminApi().GET('/api/health-check/config'));
}

/** Saved and in force at once. */
export async function saveHealthCheckConfig(config: HealthCheckConfig): Promise<HealthCheckConfig> {
  return answer(adminApi().PUT('/api/health-check/config', { body: config }));
}

export async function getProxyPaused(): Promise<boolean> {
  return (await answer(adminApi().GET('/api/proxy/state'))).paused;
}

/** Pauses or resumes the proxy at once; answers the state in force. */
export async function setProxyPaused(paused: boolean): Promise<boolean> {
  return (await answer(adminApi().PUT('/api/proxy/state', { body: { paused } }))).paused;
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
  // Plain fetch rather than the admin client: the stream stays open for as long as it is
  // watched, is parsed here by hand, and its failures decide between retrying and giving up.
  const controller = new AbortController();
  let retryMs = RETRY_FIRST_MS;
  let retryTimer: number | null = null;

  const connect = async (): Promise<void> => {
    handlers.onStatus?.('connecting');
    const headers = new Headers({ Accept: 'text/event-stream' });
    authorize(headers);
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

/**
 * Signs a request to the admin API: with the tab's token when it has one, else by the
 * browser's session cookie (sent by `credentials: 'same-origin'`), which the engine accepts
 * for changes only with the CSRF header.
 */
function authorize(headers: Headers): void {
  const token = readToken();
  if (token) headers.set('Authorization', `Bearer ${token}`);
  else headers.set('X-KeyGate-CSRF', '1');
}

/** The one admin route the engine answers without sign-in. */
const PUBLIC_PATH: keyof paths = '/api/health';

// Every call through the admin client passes here, so a component only ever sees a success
// or an ApiError.
const engineMiddleware: Middleware = {
  onRequest({ request, schemaPath }) {
    if (!request.headers.has('Accept')) request.headers.set('Accept', 'application/json');
    if (schemaPath !== PUBLIC_PATH) authorize(request.headers);
  },
  onError() {
    return new ApiError(0, 'network', 'Cannot reach the KeyGate engine. Is `keygate serve` (or the desktop app) still running?');
  },
  async onResponse({ request, response, options }) {
    if (!response.ok) {
      const error = await errorFrom(response);
      if (error.isUnauthorized) unauthorizedHandler?.(error);
      throw error;
    }
    if (options.parseAs !== 'json') return;
    // openapi-fetch would throw a bare SyntaxError, without the status; an empty body is fine
    // here (it becomes no data, which `answer` refuses where an answer is needed).
    const text = await response.clone().text();
    try {
      if (text) JSON.parse(text);
    } catch {
      throw new ApiError(response.status, 'bad_response', `The engine sent an unreadable answer for ${new URL(request.url).pathname}.`);
    }
  },
};

let client: Client<paths> | null = null;

/**
 * The admin API, typed by its OpenAPI document: a wrong path, method, parameter or body does
 * not compile. Made on first use: openapi-fetch builds a `Request`, which needs an absolute URL
 * outside a page (the tests), and this page's origin is the engine's.
 */
function adminApi(): Client<paths> {
  if (!client) {
    client = createClient<paths>({
      baseUrl: window.location.origin,
      cache: 'no-store',
      credentials: 'same-origin',
      // An empty value is a cleared filter: it is left out rather than sent as `name=`.
      querySerializer: (query) =>
        new URLSearchParams(
          Object.entries(query).flatMap(([name, value]) => (value === undefined || value === null || value === '' ? [] : [[name, String(value)]])),
        ).toString(),
    });
    client.use(engineMiddleware);
  }
  return client;
}

/** The body of a call through `adminApi()`; every failure was already thrown by its middleware. */
async function answer<T>(call: Promise<{ data?: T; response: Response }>): Promise<T> {
  const { data, response } = await call;
  if (data === undefined) throw new ApiError(response.status, 'bad_response', 'The engine sent an empty answer.');
  return data;
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

/** A key's provider balance as last fetched; `available: false` for a provider without one. */
export type Balance = Schemas['Balance'];

/**
 * Fetches a key's provider balance now (what the checker does hourly) and answers the key with
 * it. 409: the key is disabled or its secret cannot be read.
 */
export async function refreshKeyBalance(id: string): Promise<ApiKey> {
  return answer(adminApi().POST('/api/keys/{id}/balance', { params: { path: { id } } })) as Promise<ApiKey>;
}

/** When the built-in prices were checked, and the last catalog import. */
export type PriceSources = Schemas['PriceSources'];
/** A model that served tokens and has no price now: its usage counts as $0. */
export type UnpricedModel = Schemas['UnpricedModel'];

/** The model catalog with where its prices come from (`listModels` gives only the models). */
export async function listModelCatalog(): Promise<{ models: ModelEntry[]; prices: PriceSources }> {
  return answer(adminApi().GET('/api/models', { params: { query: {} } }));
}

/** Models served since `from` (default: 30 days ago) that have no price now. */
export async function listUnpricedModels(from?: string): Promise<UnpricedModel[]> {
  const body = await answer(adminApi().GET('/api/models/unpriced', { params: { query: { from } } }));
  return body.models;
}
