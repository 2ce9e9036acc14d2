import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError, adoptTokenFromText, clearToken, createToken, deleteProvider, editKey, getEngineHealth, listKeys, listLogs, listTokens, onUnauthorized, putTokenBudgets } from './api';

// Tests run in Node: the page's storage and address are stand-ins, and every request stops at
// this fetch. The admin client keeps the fetch it first sees, so it is stubbed once and its
// answers change per test.
const stored = new Map<string, string>();
vi.stubGlobal('window', {
  location: new URL('http://127.0.0.1:5397/'),
  sessionStorage: {
    getItem: (key: string) => stored.get(key) ?? null,
    setItem: (key: string, value: string) => void stored.set(key, value),
    removeItem: (key: string) => void stored.delete(key),
  },
});
const fetchMock = vi.fn<(request: Request) => Promise<Response>>();
vi.stubGlobal('fetch', fetchMock);

afterAll(() => {
  vi.unstubAllGlobals();
});

function answerWith(status: number, body: unknown): void {
  fetchMock.mockResolvedValueOnce(new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } }));
}

function sent(): Request {
  return fetchMock.mock.calls[0][0];
}

beforeEach(() => {
  fetchMock.mockReset();
  stored.clear();
  onUnauthorized(() => {});
});

describe('signing requests', () => {
  it('sends the tab token as a bearer token when there is one', async () => {
    adoptTokenFromText('tok123');
    answerWith(200, { keys: [] });
    await listKeys();
    const request = sent();
    expect(request.headers.get('Authorization')).toBe('Bearer tok123');
    expect(request.headers.has('X-KeyGate-CSRF')).toBe(false);
    expect(request.headers.get('Accept')).toBe('application/json');
    expect(request.credentials).toBe('same-origin');
    expect(request.cache).toBe('no-store');
  });

  it('relies on the session cookie with the CSRF header without a token', async () => {
    clearToken();
    answerWith(200, { keys: [] });
    await listKeys();
    expect(sent().headers.get('X-KeyGate-CSRF')).toBe('1');
    expect(sent().headers.has('Authorization')).toBe(false);
  });

  it('asks for health without signing in', async () => {
    adoptTokenFromText('tok123');
    answerWith(200, { version: '1' });
    await getEngineHealth();
    expect(sent().headers.has('Authorization')).toBe(false);
    expect(sent().headers.has('X-KeyGate-CSRF')).toBe(false);
  });
});

describe('errors', () => {
  it('turns the engine error body into an ApiError', async () => {
    answerWith(422, { error: { code: 'x', message: 'm', fields: { a: 'b' } } });
    const error = await listKeys().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 422, code: 'x', message: 'm', fields: { a: 'b' } });
  });

  it('tells the unauthorized handler about a 401', async () => {
    const handler = vi.fn();
    onUnauthorized(handler);
    answerWith(401, { error: { code: 'unauthorized', message: 'no token' } });
    await expect(listKeys()).rejects.toMatchObject({ status: 401 });
    expect(handler).toHaveBeenCalledWith(expect.objectContaining({ status: 401, code: 'unauthorized' }));
  });

  it('reports an unreachable engine as status 0', async () => {
    fetchMock.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    await expect(listKeys()).rejects.toMatchObject({ status: 0, code: 'network' });
  });

  it('refuses a success whose body is not JSON', async () => {
    fetchMock.mockResolvedValueOnce(new Response('<html>', { status: 200 }));
    await expect(listKeys()).rejects.toMatchObject({ status: 200, code: 'bad_response' });
  });
});

describe('URLs', () => {
  it('encodes path parameters', async () => {
    answerWith(200, {});
    await editKey('team/a b', { label: 'x' });
    const request = sent();
    expect(request.method).toBe('PUT');
    expect(new URL(request.url).pathname).toBe('/api/keys/team%2Fa%20b');
    expect(await request.json()).toEqual({ label: 'x' });
  });

  it('sends log filters as the query, leaving out empty ones', async () => {
    answerWith(200, { requests: [], next: null });
    await listLogs({ status: 'failed', provider: '', q: 'gpt 4' }, { before: 'c1' });
    const query = new URL(sent().url).searchParams;
    expect(Object.fromEntries(query)).toEqual({ status: 'failed', q: 'gpt 4', limit: '100', before: 'c1' });
  });

  it('sends with_keys as a query parameter', async () => {
    answerWith(200, {});
    await deleteProvider('openai', true);
    const url = new URL(sent().url);
    expect(url.pathname).toBe('/api/providers/openai');
    expect(url.search).toBe('?with_keys=true');
  });
});

describe('token budgets', () => {
  const view = {
    name: 'team/cli',
    hint: 'kg-…abcd',
    models: [],
    expires_at: null,
    created_at: '2026-01-01T00:00:00Z',
    last_used_at: null,
    limits: { daily_budget_usd: '5.00', monthly_budget_usd: null, daily_tokens: null, monthly_tokens: 1_000_000 },
    budgets: [{ kind: 'daily_spend', used: 1_200_000, limit: 5_000_000, percent: 24, resets_at: 1_767_312_000 }],
  };

  it('lists tokens with their limits and budget figures', async () => {
    answerWith(200, { tokens: [view] });
    const [token] = await listTokens();
    expect(token.limits.daily_budget_usd).toBe('5.00');
    expect(token.budgets[0]).toMatchObject({ kind: 'daily_spend', percent: 24 });
  });

  it('replaces all four budgets with one PUT to the encoded name', async () => {
    answerWith(200, view);
    const budgets = { daily_budget_usd: '5', monthly_budget_usd: null, daily_tokens: null, monthly_tokens: 1_000_000 };
    const saved = await putTokenBudgets('team/cli', budgets);
    const request = sent();
    expect(request.method).toBe('PUT');
    expect(new URL(request.url).pathname).toBe('/api/tokens/team%2Fcli/budgets');
    expect(await request.json()).toEqual(budgets);
    expect(saved.name).toBe('team/cli');
  });

  it('names the budget field a 422 is about', async () => {
    answerWith(422, { error: { code: 'invalid_budgets', message: 'invalid budgets', fields: { daily_budget_usd: 'invalid amount "x"' } } });
    await expect(putTokenBudgets('cli', { daily_budget_usd: 'x' })).rejects.toMatchObject({ status: 422, fields: { daily_budget_usd: 'invalid amount "x"' } });
  });

  it('sends the budgets of a new token with its name', async () => {
    answerWith(201, { name: 'cli', token: 'kg-secret', models: [], expires_at: null, limits: { daily_budget_usd: '12.50' } });
    const created = await createToken({ name: 'cli', daily_budget_usd: '12.50', daily_tokens: 50_000 });
    expect(await sent().json()).toEqual({ name: 'cli', daily_budget_usd: '12.50', daily_tokens: 50_000 });
    expect(created.limits.daily_budget_usd).toBe('12.50');
  });
});
