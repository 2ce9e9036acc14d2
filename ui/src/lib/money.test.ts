import { describe, expect, test } from 'vitest';
import { decimalText, microsToFixed6, microsToUsdText, parseTokens, parseUsd, requestCost } from './money';

describe('parseUsd', () => {
  test('reads the amounts the engine accepts', () => {
    expect(parseUsd('5')).toBe(5_000_000n);
    expect(parseUsd('12.50')).toBe(12_500_000n);
    expect(parseUsd('$0.000150')).toBe(150n);
    expect(parseUsd(' .5 ')).toBe(500_000n);
    expect(parseUsd('2.')).toBe(2_000_000n);
  });

  test('refuses what the engine refuses', () => {
    for (const bad of ['', '.', 'abc', '-1', '1.2345678', '1,5', '1e3']) expect(parseUsd(bad), bad).toBeNull();
  });
});

describe('parseTokens', () => {
  test('takes whole numbers with separators; empty is zero', () => {
    expect(parseTokens('1,000,000')).toBe(1_000_000n);
    expect(parseTokens('')).toBe(0n);
    expect(parseTokens('1.5')).toBeNull();
    expect(parseTokens('-3')).toBeNull();
  });
});

describe('requestCost', () => {
  const gpt4o = { input_usd: '2.500000', output_usd: '10.000000', cached_usd: '1.250000' };

  test('matches the engine: cached tokens are part of the prompt and priced as cached', () => {
    // The engine's own example: 1000 prompt tokens of which 400 cached, 200 completion → $0.004.
    const cost = requestCost(gpt4o, { prompt: 1000n, completion: 200n, cached: 400n });
    expect(cost?.exactUsd).toBe('0.004');
    expect(cost?.micros).toBe(4000n);
    expect(cost?.parts).toEqual({ input: '0.0015', cached: '0.0005', output: '0.002' });
  });

  test('keeps every digit of tiny costs with no float error', () => {
    const cost = requestCost({ input_usd: '0.1', output_usd: '0.2', cached_usd: null }, { prompt: 3n, completion: 0n, cached: 0n });
    expect(cost?.exactUsd).toBe('0.0000003');
    expect(cost?.micros).toBe(0n); // the engine rounds to the nearest micro-dollar
    const one = requestCost(gpt4o, { prompt: 1n, completion: 0n, cached: 0n });
    expect(one?.exactUsd).toBe('0.0000025');
    expect(one?.micros).toBe(3n); // 2.5 micro-dollars rounds half up
  });

  test('huge counts stay exact', () => {
    const cost = requestCost(gpt4o, { prompt: 10_000_000_000n, completion: 3_000_000_000n, cached: 0n });
    expect(cost?.exactUsd).toBe('55000.00');
  });

  test('no cached price falls back to the input price; more cached than prompt is capped', () => {
    const cost = requestCost({ input_usd: '3', output_usd: '15', cached_usd: null }, { prompt: 1_000_000n, completion: 0n, cached: 2_000_000n });
    expect(cost?.exactUsd).toBe('3.00');
  });

  test('a model without a price has no cost', () => {
    expect(requestCost({ input_usd: null, output_usd: null, cached_usd: null }, { prompt: 1n, completion: 1n, cached: 0n })).toBeNull();
  });
});

describe('decimal text', () => {
  test('trims zeros but keeps two decimals', () => {
    expect(decimalText(1_500_000n, 1_000_000n, 6)).toBe('1.50');
    expect(decimalText(-25n, 10n, 1)).toBe('-2.50');
    expect(microsToUsdText(150)).toBe('0.00015');
    expect(microsToUsdText(0)).toBe('0.00');
    expect(microsToFixed6(4000)).toBe('0.004000');
    expect(microsToFixed6(12_345_678)).toBe('12.345678');
  });
});
