// What a chart's hover card says: which bucket the pointer is over and each series' value in
// it, worded by the chart's unit. Pure functions, so ChartImage only handles pointer and keys.

import type { ChartData } from './api';
import { formatCount, formatTokens, formatUsd } from './format';

export interface TooltipLine {
  name: string;
  value: string;
}

export interface Tooltip {
  time: string;
  /** One line per series with a value in the bucket; empty when no series has one. */
  lines: TooltipLine[];
}

/** The index of the bucket whose centre is nearest to `x` (the first of a tie); -1 when none. */
export function nearestBucket(bucketX: readonly number[], x: number): number {
  let best = -1;
  let bestDistance = Infinity;
  for (const [i, centre] of bucketX.entries()) {
    const distance = Math.abs(centre - x);
    if (distance < bestDistance) {
      best = i;
      bestDistance = distance;
    }
  }
  return best;
}

/** A value in the chart's unit: "$0.0042", "99.5%", "840 ms", "1,200" (requests), "12.3K" (tokens). */
export function formatChartValue(value: number, unit: string): string {
  switch (unit) {
    case 'USD':
      // The engine sends dollars; formatUsd takes whole micro-dollars.
      return formatUsd(Math.round(value * 1_000_000));
    case '%':
      return `${value.toFixed(1)}%`;
    case 'ms':
      return `${formatCount(Math.round(value))} ms`;
    case 'tokens':
      return formatTokens(Math.round(value));
    default:
      return formatCount(value);
  }
}

// Buckets start on UTC hours and UTC days, and the picture's axis labels them in UTC too.
const hourFormat = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'UTC' });
const dayFormat = new Intl.DateTimeFormat('en-US', { month: 'short', day: 'numeric', timeZone: 'UTC' });

/** A bucket's start: "Dec 7, 14:00 UTC" for buckets shorter than a day, else "Dec 7". */
export function bucketTime(start: string, bucketSeconds: number): string {
  const at = new Date(start);
  if (Number.isNaN(at.getTime())) return start;
  return bucketSeconds < 86_400 ? `${hourFormat.format(at)} UTC` : dayFormat.format(at);
}

/** The hover card for bucket `index`: its time and the series that have a value there. */
export function tooltipOf(data: ChartData, index: number): Tooltip {
  const lines: TooltipLine[] = [];
  for (const series of data.series) {
    const value = series.values[index];
    if (value !== null && value !== undefined) lines.push({ name: series.name, value: formatChartValue(value, data.unit) });
  }
  return { time: bucketTime(data.buckets[index] ?? '', data.bucket_seconds), lines };
}

/** The card as one sentence, for a screen reader: "Dec 7: openai 120, anthropic 4". */
export function tooltipText(tooltip: Tooltip): string {
  const values = tooltip.lines.length ? tooltip.lines.map((line) => `${line.name} ${line.value}`).join(', ') : 'no data';
  return `${tooltip.time}: ${values}`;
}
