import { describe, expect, test } from 'vitest';
import { groupLabel, isRefused, rangeStart, startOfLocalDay, totalsOf } from './usage';

describe('usage periods and totals', () => {
  test('a range ends now', () => {
    const now = new Date('2026-11-30T12:00:00Z');
    expect(rangeStart('24h', now)).toBe('2026-11-29T12:00:00.000Z');
    expect(rangeStart('30d', now)).toBe('2026-10-31T12:00:00.000Z');
    expect(new Date(startOfLocalDay(now)).getHours()).toBe(0);
  });

  test('totals add every column', () => {
    const row = { group: 'x', label: 'x', requests: 2, errors: 1, failed_attempts: 3, prompt_tokens: 10, completion_tokens: 5, cached_tokens: 1, cost_micros: 7, unpriced: 1 };
    expect(totalsOf([row, row])).toEqual({ requests: 4, errors: 2, failed_attempts: 6, prompt_tokens: 20, completion_tokens: 10, cached_tokens: 2, cost_micros: 14, unpriced: 2 });
  });

  test('a group reads as its label, a refusal as its reason', () => {
    expect(groupLabel({ group: 'k_01', label: 'Work key' })).toBe('Work key');
    expect(groupLabel({ group: 'refused: no_healthy_key', label: 'refused: no_healthy_key' })).toBe('Refused — no healthy key');
    expect(groupLabel({ group: 'refused: 429', label: 'refused: 429' })).toBe('Refused — 429');
    expect(isRefused('refused: no_healthy_key')).toBe(true);
    expect(isRefused('openai')).toBe(false);
  });
});
