// A key's provider balance in words: the amount in its currency, whether it is low, and what to
// say when there is none (never fetched, no endpoint at this provider, the last fetch failed).

import type { Balance } from './api';

const SYMBOLS: Record<string, string> = { USD: '$', CNY: '¥', EUR: '€' };

/** `¥110.00`, `$74.50`, `12.00 GBP`. */
export function formatAmount(amount: number, currency: string | null): string {
  const fixed = amount.toFixed(2);
  const symbol = currency ? SYMBOLS[currency] : undefined;
  if (symbol) return amount < 0 ? `-${symbol}${fixed.slice(1)}` : `${symbol}${fixed}`;
  return currency ? `${fixed} ${currency}` : fixed;
}

export type BalanceTone = 'ok' | 'low' | 'empty' | 'none';

export interface BalanceText {
  /** What the cell shows. */
  text: string;
  /** The longer story, for a tooltip and the details. */
  detail: string;
  tone: BalanceTone;
}

/** The balance of a key as the Keys page shows it. */
export function balanceText(balance: Balance | null | undefined): BalanceText {
  if (!balance) return { text: '–', detail: 'Not fetched yet: refresh it, or test the key.', tone: 'none' };
  if (!balance.available) return { text: 'n/a', detail: capitalise(balance.note), tone: 'none' };
  if (balance.amount === null) return { text: '?', detail: capitalise(balance.note), tone: 'none' };
  const text = formatAmount(balance.amount, balance.currency);
  const tone: BalanceTone = balance.amount <= 0 ? 'empty' : balance.low ? 'low' : 'ok';
  const state = tone === 'empty' ? 'Out of credit. ' : tone === 'low' ? 'Low. ' : '';
  return { text, detail: `${state}${capitalise(balance.note)}`, tone };
}

/**
 * The balances of a provider's keys added up per currency (`¥150.00 · $20.00`), over the keys
 * that have an amount; `null` when none has.
 */
export function providerBalance(balances: (Balance | null | undefined)[]): { text: string; keys: number } | null {
  const sums = new Map<string, number>();
  let keys = 0;
  for (const b of balances) {
    if (!b?.available || b.amount === null) continue;
    keys += 1;
    const currency = b.currency ?? '';
    sums.set(currency, (sums.get(currency) ?? 0) + b.amount);
  }
  if (keys === 0) return null;
  const text = [...sums].map(([currency, amount]) => formatAmount(amount, currency || null)).join(' · ');
  return { text, keys };
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
