import { describe, expect, test } from 'vitest';
import type { KeyLimits } from './api';
import { budgetTone, budgetUse, formToLimits, fullestBudget, limitsToForm } from './budgets';

const NONE: KeyLimits = {
  rpm: null,
  tpm: null,
  rpd: null,
  daily_budget_usd: null,
  monthly_budget_usd: null,
  daily_tokens: null,
  monthly_tokens: null,
};

describe('budgets', () => {
  test('use reads as money or tokens', () => {
    expect(budgetUse({ kind: 'daily_spend', used: 1_200_000, limit: 5_000_000, percent: 24, resets_at: 0 })).toBe('$1.20 of $5.00');
    expect(budgetUse({ kind: 'monthly_tokens', used: 12_300, limit: 100_000, percent: 12, resets_at: 0 })).toBe('12.3K of 100K tokens');
  });

  test('the fullest budget decides the bar; 80 % warns, 100 % is full', () => {
    const a = { kind: 'daily_spend' as const, used: 1, limit: 10, percent: 10, resets_at: 0 };
    const b = { kind: 'monthly_tokens' as const, used: 9, limit: 10, percent: 90, resets_at: 0 };
    expect(fullestBudget([a, b])).toBe(b);
    expect(fullestBudget([])).toBeNull();
    expect([budgetTone(79), budgetTone(80), budgetTone(100)]).toEqual(['ok', 'warn', 'full']);
  });
});

describe('limits form', () => {
  test('round trip: empty fields are no limit, dollars stay text', () => {
    const form = limitsToForm({ ...NONE, rpm: 60, daily_budget_usd: '5.00' });
    expect(form.rpm).toBe('60');
    expect(form.tpm).toBe('');
    expect(formToLimits({ ...form, monthly_tokens: '1,000,000' })).toEqual({
      limits: { ...NONE, rpm: 60, daily_budget_usd: '5.00', monthly_tokens: 1_000_000 },
    });
  });

  test('whole numbers are checked here, each field on its own', () => {
    const result = formToLimits({ ...limitsToForm(NONE), rpm: '0', tpm: '1.5', daily_tokens: 'lots', daily_budget_usd: 'abc' });
    expect(result).toEqual({
      errors: {
        rpm: 'At least 1',
        tpm: 'A whole number',
        daily_tokens: 'A whole number',
        daily_budget_usd: 'Dollars, like 5 or 12.50',
      },
    });
  });
});
