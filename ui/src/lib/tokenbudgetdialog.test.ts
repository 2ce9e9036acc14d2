import { describe, expect, test } from 'vitest';
import { budgetFieldErrors, formToTokenBudgets, setBudgets, tokenBudgetsToForm } from '../components/TokenBudgetDialog.svelte';

// The token budget form's helpers (in TokenBudgetDialog's module script, shared with the
// Create token dialog): the same rules as a key's budgets in lib/budgets.ts.

const EMPTY = { daily_budget_usd: '', monthly_budget_usd: '', daily_tokens: '', monthly_tokens: '' };

describe('token budgets form', () => {
  test('saved budgets fill the form; none is an empty field', () => {
    expect(tokenBudgetsToForm({ daily_budget_usd: '50.00', monthly_budget_usd: null, daily_tokens: 100_000 })).toEqual({
      ...EMPTY,
      daily_budget_usd: '50.00',
      daily_tokens: '100000',
    });
    expect(tokenBudgetsToForm(null)).toEqual(EMPTY);
  });

  test('the form gives all four budgets, empty ones null, dollars as text', () => {
    expect(formToTokenBudgets({ ...EMPTY, daily_budget_usd: ' 12.50 ', monthly_tokens: '1,000,000' })).toEqual({
      budgets: { daily_budget_usd: '12.50', monthly_budget_usd: null, daily_tokens: null, monthly_tokens: 1_000_000 },
    });
    expect(formToTokenBudgets(EMPTY)).toEqual({ budgets: { daily_budget_usd: null, monthly_budget_usd: null, daily_tokens: null, monthly_tokens: null } });
  });

  test('a bad value is named by its field', () => {
    expect(formToTokenBudgets({ ...EMPTY, daily_budget_usd: '7.5.0', daily_tokens: 'lots', monthly_tokens: '10' })).toEqual({
      errors: { daily_budget_usd: 'Dollars, like 5 or 12.50', daily_tokens: 'A whole number' },
    });
    expect(formToTokenBudgets({ ...EMPTY, monthly_budget_usd: '-1' })).toEqual({ errors: { monthly_budget_usd: 'Dollars, like 5 or 12.50' } });
  });

  test('a new token sends only the budgets that are set', () => {
    expect(setBudgets({ daily_budget_usd: '5', monthly_budget_usd: null, daily_tokens: 0, monthly_tokens: null })).toEqual({ daily_budget_usd: '5', daily_tokens: 0 });
    expect(setBudgets({})).toEqual({});
  });

  test("a 422's fields split into budget fields and the rest", () => {
    expect(budgetFieldErrors({ monthly_tokens: 'too large', name: 'taken' })).toEqual({ known: { monthly_tokens: 'Too large' }, other: { name: 'Taken' } });
  });
});
