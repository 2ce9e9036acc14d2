// Periods and totals for the usage views.

import type { ChartRange, UsageRow } from './api';

export const RANGES: { value: ChartRange; label: string; long: string }[] = [
  { value: '24h', label: '24h', long: 'the last 24 hours' },
  { value: '7d', label: '7 days', long: 'the last 7 days' },
  { value: '30d', label: '30 days', long: 'the last 30 days' },
  { value: '90d', label: '90 days', long: 'the last 90 days' },
];

const HOURS: Record<ChartRange, number> = { '24h': 24, '7d': 7 * 24, '30d': 30 * 24, '90d': 90 * 24 };

export function isRange(value: string | undefined): value is ChartRange {
  return value !== undefined && value in HOURS;
}

/** Where a range starts, as the RFC 3339 time the usage API takes. */
export function rangeStart(range: ChartRange, now: Date): string {
  return new Date(now.getTime() - HOURS[range] * 3_600_000).toISOString();
}

/** The start of the local day of `now` (the "today" of the dashboard), as RFC 3339. */
export function startOfLocalDay(now: Date): string {
  return new Date(now.getFullYear(), now.getMonth(), now.getDate()).toISOString();
}

export interface UsageTotals {
  requests: number;
  errors: number;
  failed_attempts: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  cost_micros: number;
  unpriced: number;
}

/** Every column summed over the rows (cost stays integer micro-dollars). */
export function totalsOf(rows: UsageRow[]): UsageTotals {
  const total: UsageTotals = { requests: 0, errors: 0, failed_attempts: 0, prompt_tokens: 0, completion_tokens: 0, cached_tokens: 0, cost_micros: 0, unpriced: 0 };
  for (const row of rows) {
    total.requests += row.requests;
    total.errors += row.errors;
    total.failed_attempts += row.failed_attempts;
    total.prompt_tokens += row.prompt_tokens;
    total.completion_tokens += row.completion_tokens;
    total.cached_tokens += row.cached_tokens;
    total.cost_micros += row.cost_micros;
    total.unpriced += row.unpriced;
  }
  return total;
}

const REFUSED = 'refused: ';

/** Whether a group holds requests no provider answered (`refused: REASON`). */
export function isRefused(group: string): boolean {
  return group.startsWith(REFUSED);
}

/**
 * What the usage table calls a group: its label, except requests no provider answered
 * (`refused: no_healthy_key`), which read "Refused — no healthy key".
 */
export function groupLabel(row: Pick<UsageRow, 'group' | 'label'>): string {
  if (!isRefused(row.group)) return row.label;
  const reason = row.group.slice(REFUSED.length).replaceAll('_', ' ').trim();
  return reason ? `Refused — ${reason}` : 'Refused';
}
