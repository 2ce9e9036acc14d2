// Budgets and limits of a key: how their use reads, and the Limits dialog's form as numbers.

import type { BudgetKind, BudgetStatus, KeyLimits } from './api';
import { formatPercent, formatTokens, formatUsd } from './format';
import { parseUsd } from './money';

export const BUDGET_LABELS: Record<BudgetKind, string> = {
  daily_spend: 'Daily spend',
  monthly_spend: 'Monthly spend',
  daily_tokens: 'Daily tokens',
  monthly_tokens: 'Monthly tokens',
};

/** The engine warns at this share of a budget and skips the key at 100 %. */
export const ALERT_PERCENT = 80;

export function isSpend(kind: BudgetKind): boolean {
  return kind === 'daily_spend' || kind === 'monthly_spend';
}

/** "$1.20 of $5.00" or "12.3K of 100K tokens". */
export function budgetUse(status: BudgetStatus): string {
  return isSpend(status.kind)
    ? `${formatUsd(status.used)} of ${formatUsd(status.limit)}`
    : `${formatTokens(status.used)} of ${formatTokens(status.limit)} tokens`;
}

/** The budget closest to its limit (the one that stops the key first), or null. */
export function fullestBudget(budgets: BudgetStatus[]): BudgetStatus | null {
  let fullest: BudgetStatus | null = null;
  for (const b of budgets) if (!fullest || b.percent > fullest.percent) fullest = b;
  return fullest;
}

export type BudgetTone = 'ok' | 'warn' | 'full';

export function budgetTone(percent: number): BudgetTone {
  if (percent >= 100) return 'full';
  return percent >= ALERT_PERCENT ? 'warn' : 'ok';
}

/** One line per budget for a tooltip: "Daily spend: $1.20 of $5.00 (24 %), resets …". */
export function budgetSummary(budgets: BudgetStatus[], now: Date = new Date()): string {
  return budgets
    .map((b) => `${BUDGET_LABELS[b.kind]}: ${budgetUse(b)} (${formatPercent(b.percent)}), resets ${resetText(b.resets_at, now)}`)
    .join('\n');
}

function resetText(resetsAt: number, now: Date): string {
  const at = new Date(resetsAt * 1000);
  const sameDay = at.toDateString() === now.toDateString();
  const tomorrow = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1).toDateString() === at.toDateString();
  const time = at.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (sameDay) return `at ${time}`;
  if (tomorrow) return `tomorrow ${time}`;
  return at.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

/** The Limits dialog's fields as typed: empty means no limit. */
export type LimitsForm = Record<keyof KeyLimits, string>;

export const LIMIT_FIELDS: (keyof KeyLimits)[] = ['rpm', 'tpm', 'rpd', 'daily_budget_usd', 'monthly_budget_usd', 'daily_tokens', 'monthly_tokens'];

const USD_FIELDS = new Set<keyof KeyLimits>(['daily_budget_usd', 'monthly_budget_usd']);
const NONZERO_FIELDS = new Set<keyof KeyLimits>(['rpm', 'tpm', 'rpd']);
const U32_MAX = 4_294_967_295;

export function limitsToForm(limits: KeyLimits): LimitsForm {
  const form = {} as LimitsForm;
  for (const field of LIMIT_FIELDS) form[field] = limits[field] === null || limits[field] === undefined ? '' : String(limits[field]);
  return form;
}

/**
 * The form as the API body, or the problems per field, all at once. Whole numbers must be
 * checked here (JSON cannot carry "abc" as a number); dollars are checked with the engine's
 * rules and sent as text, and the engine's own message shows should the two ever disagree.
 */
export function formToLimits(form: LimitsForm): { limits: KeyLimits } | { errors: Partial<Record<keyof KeyLimits, string>> } {
  const errors: Partial<Record<keyof KeyLimits, string>> = {};
  const limits = {} as Record<keyof KeyLimits, string | number | null>;
  for (const field of LIMIT_FIELDS) {
    const text = (form[field] ?? '').trim();
    if (text === '') {
      limits[field] = null;
    } else if (USD_FIELDS.has(field)) {
      if (parseUsd(text) === null) errors[field] = 'Dollars, like 5 or 12.50';
      limits[field] = text;
    } else {
      const digits = text.replace(/[\s,_]/g, '');
      const value = Number(digits);
      if (!/^\d+$/.test(digits) || !Number.isSafeInteger(value)) errors[field] = 'A whole number';
      else if (NONZERO_FIELDS.has(field) && value === 0) errors[field] = 'At least 1';
      else if (NONZERO_FIELDS.has(field) && value > U32_MAX) errors[field] = 'Too large';
      limits[field] = value;
    }
  }
  return Object.keys(errors).length ? { errors } : { limits: limits as unknown as KeyLimits };
}
