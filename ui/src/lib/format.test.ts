import { describe, expect, test } from 'vitest';
import { formatContext, formatCount, formatPercent, formatPrice, formatRate, formatTokens, formatUsd, formatUsdText } from './format';

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
