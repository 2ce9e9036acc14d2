import { describe, expect, it } from 'vitest';
import type { Balance } from './api';
import { balanceText, formatAmount, providerBalance } from './balance';

const balance = (over: Partial<Balance>): Balance => ({
  available: true,
  amount: 10,
  currency: 'CNY',
  checked_at: '2026-12-07T00:00:00Z',
  note: 'granted 0.00, topped up 10.00',
  low: false,
  ...over,
});

describe('balances', () => {
  it('formats amounts with their currency', () => {
    expect(formatAmount(110, 'CNY')).toBe('¥110.00');
    expect(formatAmount(74.5, 'USD')).toBe('$74.50');
    expect(formatAmount(-3, 'USD')).toBe('-$3.00');
    expect(formatAmount(12, 'GBP')).toBe('12.00 GBP');
  });

  it('says what there is, low, empty or nothing', () => {
    expect(balanceText(null)).toMatchObject({ text: '–', tone: 'none' });
    expect(balanceText(balance({ available: false, amount: null, note: 'not available from this provider' }))).toEqual({
      text: 'n/a',
      detail: 'Not available from this provider',
      tone: 'none',
    });
    expect(balanceText(balance({ amount: null, note: 'the balance endpoint refused the key (HTTP 401)' })).text).toBe('?');
    expect(balanceText(balance({ amount: 3, low: true }))).toMatchObject({ text: '¥3.00', tone: 'low' });
    expect(balanceText(balance({ amount: 0, low: true })).detail).toMatch(/^Out of credit\./);
    expect(balanceText(balance({})).tone).toBe('ok');
  });

  it('adds up a provider per currency over the keys with an amount', () => {
    expect(providerBalance([balance({ amount: 100 }), balance({ amount: 50.5 }), balance({ amount: 20, currency: 'USD' }), null])).toEqual({
      text: '¥150.50 · $20.00',
      keys: 3,
    });
    expect(providerBalance([null, balance({ available: false, amount: null })])).toBeNull();
  });
});
