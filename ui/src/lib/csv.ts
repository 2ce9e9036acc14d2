// The Usage page's "Download CSV": built in the browser from the rows on screen.

import type { UsageGroupBy, UsageRow } from './api';
import { microsToFixed6 } from './money';

const COLUMNS = ['label', 'requests', 'errors', 'failed_attempts', 'prompt_tokens', 'completion_tokens', 'cached_tokens', 'cost_usd', 'unpriced_requests'];

/**
 * One field per RFC 4180: quoted when it holds a comma, quote or line break. Text that a
 * spreadsheet would run as a formula (= + - @ tab CR at the start; key labels and model names
 * come from people and providers) gets a leading apostrophe.
 */
export function csvField(value: string | number): string {
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The rows as CSV with a header line, CRLF line ends, dollars with six decimals. */
export function usageCsv(rows: UsageRow[], by: UsageGroupBy): string {
  const lines = [[by, ...COLUMNS].join(',')];
  for (const row of rows) {
    lines.push(
      [
        csvField(row.group),
        csvField(row.label),
        row.requests,
        row.errors,
        row.failed_attempts,
        row.prompt_tokens,
        row.completion_tokens,
        row.cached_tokens,
        microsToFixed6(row.cost_micros),
        row.unpriced,
      ].join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** A file name like `keygate-usage-7d-by-model-2026-11-30.csv`. */
export function usageCsvName(range: string, by: UsageGroupBy, now: Date): string {
  return `keygate-usage-${range}-by-${by}-${now.toISOString().slice(0, 10)}.csv`;
}
