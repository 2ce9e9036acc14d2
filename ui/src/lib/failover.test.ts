import { describe, expect, it } from 'vitest';
import type { AttemptLog, RequestLog } from './api';
import { classLabel, requestFailed, whyFailedOver } from './failover';

const attempt = (over: Partial<AttemptLog>): AttemptLog => ({
  provider: 'openai',
  key_id: 'k1',
  key_label: 'main',
  status: 429,
  class: 'rate_limited',
  latency_ms: 80,
  ...over,
});

describe('whyFailedOver', () => {
  it('names the reason and the key tried next', () => {
    const text = whyFailedOver(attempt({}), attempt({ key_label: 'backup', class: 'success', status: 200 }));
    expect(text).toBe('Key main was rate-limited by openai (HTTP 429) and rests until the limit resets, so KeyGate tried key backup next.');
  });

  it('names the other provider when the next attempt moved tiers', () => {
    const text = whyFailedOver(attempt({ class: 'auth', status: 401 }), attempt({ provider: 'anthropic', key_label: 'vault' }));
    expect(text).toMatch(/^Key main was refused by openai \(HTTP 401\)/);
    expect(text).toMatch(/tried anthropic \(key vault\) next\.$/);
  });

  it('says what ended the attempts: the limit, the deadline, or no other key', () => {
    const failed = attempt({ class: 'server_error', status: 503 });
    expect(whyFailedOver(failed, null, { attempts: 3, maxAttempts: 3 })).toBe(
      'Provider openai had a server error (HTTP 503), not a problem with key main. That was the last of the 3 attempts a request gets (Settings → Max attempts).',
    );
    expect(whyFailedOver(failed, null, { attempts: 1, maxAttempts: 3, latencyMs: 120_000, deadlineMs: 120_000 })).toMatch(/120 s deadline ran out/);
    expect(whyFailedOver(failed, null, { attempts: 1, maxAttempts: 3, latencyMs: 40, deadlineMs: 120_000 })).toMatch(
      /No other key or provider could take the request then/,
    );
    expect(whyFailedOver(attempt({ class: 'client_error', status: 400 }), null, { attempts: 1, maxAttempts: 3 })).toMatch(
      /Another key would get the same answer/,
    );
  });

  it('copes with a class it does not know', () => {
    expect(whyFailedOver(attempt({ class: 'weird_thing', status: null }), null)).toMatch(/^Key main failed \(Weird thing\)\. No other key or provider/);
  });
});

describe('classLabel', () => {
  it('labels the known classes and humanises others', () => {
    expect(classLabel('rate_limited')).toBe('Rate limited');
    expect(classLabel('success')).toBe('OK');
    expect(classLabel('new_kind')).toBe('New kind');
    expect(classLabel(null)).toBe('—');
  });
});

describe('log rows', () => {
  const row = (over: Partial<RequestLog>): RequestLog => ({
    id: 'r1', at: '2026-01-01T00:00:00Z', token: 'e2e-tool', endpoint: '/v1/chat/completions', model_requested: 'smart',
    model_served: 'gpt-4o', provider: 'openai', key_id: 'k1', status: 200, error_class: null, attempts: [attempt({ class: 'success' })],
    latency_ms: 100, ttfb_ms: 50, stream: false, prompt_tokens: 1, completion_tokens: 1, cached_tokens: 0, cost_micros: 0, ...over,
  });

  it('counts a broken stream as failed even with status 200', () => {
    expect(requestFailed(row({}))).toBe(false);
    expect(requestFailed(row({ error_class: 'stream_broken' }))).toBe(true);
    expect(requestFailed(row({ status: 503 }))).toBe(true);
  });
});
