// How numbers read on screen: money, tokens, percentages. Pure functions, so the rules are
// unit tested and the same on every page.

import { decimalText, microsToUsdText } from './money';

const MICROS_PER_CENT = 10_000n;
const grouped = new Intl.NumberFormat('en-US');
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/** Groups the whole part of a decimal text: "1234.5" → "1,234.5". */
function groupWhole(text: string): string {
  const [whole, frac] = text.split('.');
  const withCommas = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return frac === undefined ? withCommas : `${withCommas}.${frac}`;
}

/**
 * Micro-dollars for tables and tiles: cents from one dollar up ("$12.35", rounded half up),
 * below it every digit that matters ("$0.0042", "$0.000001"), and "$0.00" for nothing.
 */
export function formatUsd(micros: number | bigint): string {
  const value = BigInt(micros);
  const sign = value < 0n ? '-' : '';
  const abs = value < 0n ? -value : value;
  if (abs >= 1_000_000n) {
    const cents = (abs + MICROS_PER_CENT / 2n) / MICROS_PER_CENT;
    return `${sign}$${groupWhole(decimalText(cents, 100n, 2))}`;
  }
  return `${sign}$${microsToUsdText(abs)}`;
}

/** Exact dollar text (from the cost calculator) with a sign and grouping: "1234.5" → "$1,234.50". */
export function formatUsdText(text: string): string {
  const negative = text.startsWith('-');
  const body = negative ? text.slice(1) : text;
  const [whole, frac = ''] = body.split('.');
  return `${negative ? '-' : ''}$${groupWhole(`${whole}.${frac.padEnd(2, '0')}`)}`;
}

/** A price per million tokens as the engine sends it ("2.500000") → "$2.50"; null → "–". */
export function formatPrice(text: string | null): string {
  if (text === null) return '–';
  const [whole, frac = ''] = text.split('.');
  let digits = frac.replace(/0+$/, '');
  if (digits.length < 2) digits = digits.padEnd(2, '0');
  return `$${groupWhole(`${whole || '0'}.${digits}`)}`;
}

/** A count with separators: 12345 → "12,345". */
export function formatCount(n: number): string {
  return grouped.format(n);
}

/** A token count, short: 950 → "950", 12_300 → "12.3K", 4_000_000 → "4M". */
export function formatTokens(n: number): string {
  return n < 1000 ? grouped.format(n) : compact.format(n);
}

/** A whole percentage for bars: 0 → "0%", 0.4 → "<1%", 99.6 → "99%" (never rounds up to full). */
export function formatPercent(percent: number): string {
  if (!Number.isFinite(percent) || percent <= 0) return '0%';
  if (percent < 1) return '<1%';
  if (percent < 100) return `${Math.floor(percent)}%`;
  return `${Math.round(percent)}%`;
}

/** A share (0‥1) with one decimal when it is not whole: 0.995 → "99.5%", 1 → "100%". */
export function formatRate(share: number | null): string {
  if (share === null || !Number.isFinite(share)) return '–';
  const percent = Math.round(share * 1000) / 10;
  return `${percent % 1 === 0 ? percent.toFixed(0) : percent.toFixed(1)}%`;
}

/** Context windows: 128000 → "128K", 1048576 → "1M", 200000 → "200K". */
export function formatContext(tokens: number | null | undefined): string {
  if (!tokens) return '–';
  return compact.format(tokens);
}

/** How long ago `at` was, in the largest whole unit: "just now", "5 min ago", "3 h ago", "2 d ago". */
export function formatAgo(at: string, now: number = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - new Date(at).getTime()) / 1000));
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 60) return 'just now';
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return `${Math.floor(seconds / 86_400)} d ago`;
}

/**
 * A key's use in a line: "120 requests · 3 failed attempts · used 5 min ago" (7 days), or "Not
 * used yet". Failures are attempts on the key, so a key that only failed shows "0 requests".
 */
export function keyUseText(activity: { requests: number; failed: number } | null | undefined, lastUsedAt: string | null | undefined, now: number = Date.now()): string {
  const parts: string[] = [];
  if (activity && (activity.requests > 0 || activity.failed > 0)) {
    parts.push(`${formatCount(activity.requests)} ${activity.requests === 1 ? 'request' : 'requests'}`);
    if (activity.failed > 0) parts.push(`${formatCount(activity.failed)} ${activity.failed === 1 ? 'failed attempt' : 'failed attempts'}`);
  }
  if (lastUsedAt) parts.push(`used ${formatAgo(lastUsedAt, now)}`);
  return parts.length ? parts.join(' · ') : 'Not used yet';
}
