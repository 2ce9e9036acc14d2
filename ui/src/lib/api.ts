// The only module that talks to the KeyGate engine. Components call the functions below and
// never build URLs or headers themselves.
//
// The admin token arrives once in the URL fragment (`#token=…`, printed by `keygate serve` and
// used by the desktop window), is kept in sessionStorage for this tab only, and is removed from
// the address bar straight away so it does not end up in history, bookmarks or screenshots.
// It is never put in a cookie or a query string.

export type HealthState = 'healthy' | 'degraded' | 'unhealthy' | 'unknown' | 'disabled';

export type HealthReason =
  | 'secret_missing'
  | 'auth'
  | 'quota'
  | 'rate_limited'
  | 'errors'
  | 'expired';

export interface KeyLimits {
  rpm: number | null;
  tpm: number | null;
  rpd: number | null;
  /** Dollars as exact decimal text, e.g. "2.50". */
  daily_budget_usd: string | null;
}

export interface ApiKey {
  id: string;
  provider: string;
  provider_kind: string;
  label: string;
  fingerprint: string;
  tags: string[];
  priority: number;
  weight: number;
  enabled: boolean;
  secret_ref: string;
  health: { state: HealthState; reason: HealthReason | string | null };
  limits: KeyLimits;
  created_at: string;
}

export interface Provider {
  name: string;
  kind: string;
  base_url: string;
  enabled: boolean;
  priority: number;
  key_count: number;
  docs_url: string | null;
}

export interface EngineHealth {
  status: string;
  version: string;
}

/** An error from the engine, or from failing to reach it. `message` is fit to show a person. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
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
  const body = await request<{ keys: ApiKey[] }>('/api/keys');
  return body.keys ?? [];
}

export async function listProviders(): Promise<Provider[]> {
  const body = await request<{ providers: Provider[] }>('/api/providers');
  return body.providers ?? [];
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

async function request<T>(path: string, options: { auth?: boolean; method?: string } = {}): Promise<T> {
  const { auth = true, method = 'GET' } = options;
  const headers: Record<string, string> = { Accept: 'application/json' };

  if (auth) {
    const token = readToken();
    if (!token) {
      const error = new ApiError(401, 'missing_token', 'No admin token: open KeyGate with the link that `keygate serve` prints.');
      unauthorizedHandler?.(error);
      throw error;
    }
    headers.Authorization = `Bearer ${token}`;
  }

  let response: Response;
  try {
    // Same origin: the engine serves this UI at `/` and the admin API at `/api`.
    response = await fetch(path, { method, headers, cache: 'no-store', credentials: 'omit' });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the KeyGate engine. Is `keygate serve` (or the desktop app) still running?');
  }

  if (!response.ok) {
    const error = await errorFrom(response);
    if (error.isUnauthorized) unauthorizedHandler?.(error);
    throw error;
  }

  try {
    return (await response.json()) as T;
  } catch {
    throw new ApiError(response.status, 'bad_response', `The engine sent an unreadable answer for ${path}.`);
  }
}

async function errorFrom(response: Response): Promise<ApiError> {
  let code = `http_${response.status}`;
  let message = `The engine answered ${response.status} ${response.statusText}`.trim();
  try {
    const body: unknown = await response.json();
    const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    if (typeof error?.code === 'string') code = error.code;
    if (typeof error?.message === 'string' && error.message) message = error.message;
  } catch {
    // Not the engine's JSON error shape (a proxy or a crash page); keep the status line.
  }
  return new ApiError(response.status, code, message);
}
