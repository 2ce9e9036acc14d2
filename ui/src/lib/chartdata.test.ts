import { describe, expect, test } from 'vitest';
import type { ChartData } from './api';
import { bucketTime, formatChartValue, nearestBucket, tooltipOf, tooltipText } from './chartdata';

const data = (unit: string, bucketSeconds = 3600): ChartData => ({
  svg: '<svg/>',
  title: 'Requests per hour by provider',
  unit,
  buckets: ['2026-12-07T13:00:00Z', '2026-12-07T14:00:00Z', '2026-12-07T15:00:00Z'],
  bucket_seconds: bucketSeconds,
  series: [
    { name: 'openai', values: [1200, null, 3] },
    { name: 'anthropic', values: [4, null, null] },
  ],
  plot: { left: 40, top: 10, width: 300, height: 200, bucket_x: [90, 190, 290] },
});

describe('nearestBucket', () => {
  test('the bucket whose centre is closest, the first of a tie', () => {
    const xs = [90, 190, 290];
    expect(nearestBucket(xs, 0)).toBe(0);
    expect(nearestBucket(xs, 139)).toBe(0);
    expect(nearestBucket(xs, 140)).toBe(0);
    expect(nearestBucket(xs, 141)).toBe(1);
    expect(nearestBucket(xs, 1000)).toBe(2);
  });

  test('none without buckets', () => {
    expect(nearestBucket([], 10)).toBe(-1);
  });
});

describe('formatChartValue', () => {
  test('each unit in its own words', () => {
    expect(formatChartValue(12.345, 'USD')).toBe('$12.35');
    expect(formatChartValue(0.0042, 'USD')).toBe('$0.0042');
    expect(formatChartValue(0, 'USD')).toBe('$0.00');
    expect(formatChartValue(99.54, '%')).toBe('99.5%');
    expect(formatChartValue(100, '%')).toBe('100.0%');
    expect(formatChartValue(1234.4, 'ms')).toBe('1,234 ms');
    expect(formatChartValue(1200, 'requests')).toBe('1,200');
    expect(formatChartValue(12_300, 'tokens')).toBe('12.3K');
    expect(formatChartValue(950, 'tokens')).toBe('950');
  });
});

describe('bucketTime', () => {
  test('hours with the time, days without, both in UTC like the axis', () => {
    expect(bucketTime('2026-12-07T14:00:00Z', 3600)).toBe('Dec 7, 14:00 UTC');
    expect(bucketTime('2026-12-07T00:00:00Z', 86_400)).toBe('Dec 7');
    expect(bucketTime('not a time', 3600)).toBe('not a time');
  });
});

describe('tooltipOf', () => {
  test('one line per series with a value, formatted by the unit', () => {
    const tip = tooltipOf(data('requests'), 0);
    expect(tip).toEqual({
      time: 'Dec 7, 13:00 UTC',
      lines: [
        { name: 'openai', value: '1,200' },
        { name: 'anthropic', value: '4' },
      ],
    });
    expect(tooltipText(tip)).toBe('Dec 7, 13:00 UTC: openai 1,200, anthropic 4');
  });

  test('series without a value are left out; none at all is "no data"', () => {
    expect(tooltipOf(data('USD'), 2).lines).toEqual([{ name: 'openai', value: '$3.00' }]);
    const empty = tooltipOf(data('requests', 86_400), 1);
    expect(empty.lines).toEqual([]);
    expect(tooltipText(empty)).toBe('Dec 7: no data');
  });
});
