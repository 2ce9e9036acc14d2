import { describe, expect, it, test } from 'vitest';
import { formatAgo, formatContext, formatCount, formatPercent, formatPrice, formatRate, formatTokens, formatUsd, formatUsdText, keyUseText } from './format';

describe('formatUsd', () => {
  test('cents from a dollar up, rounded half up, with separators', () => {
    expect(formatUsd(12_345_000)).toBe('$12.35');
    expect(formatUsd(1_000_000)).toBe('$1.00');
    expect(formatUsd(1_234_567_890_000)).toBe('$1,234,567.89');
    expect(formatUsd(1_999_995)).toBe('$2.00');
  });

  test('below a dollar every significant digit, at least two decimals', () => {
    expect(formatUsd(0)).toBe('$0.00');
    expect(formatUsd(4200)).toBe('$0.0042');
    expect(formatUsd(1)).toBe('$0.000001');
    expect(formatUsd(500_000)).toBe('$0.50');
    expect(formatUsd(-4200n)).toBe('-$0.0042');
  });

  test('exact text from the calculator', () => {
    expect(formatUsdText('1234.5')).toBe('$1,234.50');
    expect(formatUsdText('0.0000025')).toBe('$0.0000025');
    expect(formatUsdText('3')).toBe('$3.00');
  });
});

describe('formatPrice', () => {
  test('the engine’s six decimals, shortened', () => {
    expect(formatPrice('2.500000')).toBe('$2.50');
    expect(formatPrice('0.075000')).toBe('$0.075');
    expect(formatPrice('1500.000000')).toBe('$1,500.00');
    expect(formatPrice(null)).toBe('–');
  });
});

describe('percentages', () => {
  test('bars never show full before the limit', () => {
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(0.3)).toBe('<1%');
    expect(formatPercent(42)).toBe('42%');
    expect(formatPercent(99.9)).toBe('99%');
    expect(formatPercent(100)).toBe('100%');
    expect(formatPercent(134)).toBe('134%');
    expect(formatPercent(Number.NaN)).toBe('0%');
  });

  test('rates keep one decimal when needed', () => {
    expect(formatRate(1)).toBe('100%');
    expect(formatRate(0.995)).toBe('99.5%');
    expect(formatRate(0.5)).toBe('50%');
    expect(formatRate(null)).toBe('–');
  });
});

describe('counts', () => {
  test('tokens and context windows are short, counts grouped', () => {
    expect(formatTokens(950)).toBe('950');
    expect(formatTokens(12_300)).toBe('12.3K');
    expect(formatTokens(4_000_000)).toBe('4M');
    expect(formatCount(12345)).toBe('12,345');
    expect(formatContext(128_000)).toBe('128K');
    expect(formatContext(undefined)).toBe('–');
  });
});

describe('key use', () => {
  const now = Date.parse('2026-12-04T12:00:00Z');
  it('says how long ago, in whole units', () => {
    expect(formatAgo('2026-12-04T11:59:30Z', now)).toBe('just now');
    expect(formatAgo('2026-12-04T11:55:00Z', now)).toBe('5 min ago');
    expect(formatAgo('2026-12-04T09:00:00Z', now)).toBe('3 h ago');
    expect(formatAgo('2026-12-02T12:00:00Z', now)).toBe('2 d ago');
  });
  it('puts requests, failures and the last use in one line', () => {
    expect(keyUseText({ requests: 1200, failed: 3 }, '2026-12-04T11:55:00Z', now)).toBe('1,200 requests · 3 failed attempts · used 5 min ago');
    expect(keyUseText({ requests: 1, failed: 1 }, null, now)).toBe('1 request · 1 failed attempt');
    expect(keyUseText({ requests: 0, failed: 0 }, null, now)).toBe('Not used yet');
    expect(keyUseText(null, '2026-12-02T12:00:00Z', now)).toBe('used 2 d ago');
  });
  it('shows a key that only failed', () => {
    expect(keyUseText({ requests: 0, failed: 36 }, '2026-12-04T11:55:00Z', now)).toBe('0 requests · 36 failed attempts · used 5 min ago');
  });
});

