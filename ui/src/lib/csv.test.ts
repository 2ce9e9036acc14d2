import { describe, expect, test } from 'vitest';
import type { UsageRow } from './api';
import { csvField, usageCsv, usageCsvName } from './csv';

const row = (group: string, cost: number): UsageRow => ({
  group,
  label: group,
  requests: 3,
  errors: 1,
  failed_attempts: 2,
  prompt_tokens: 1200,
  completion_tokens: 340,
  cached_tokens: 100,
  cost_micros: cost,
  unpriced: 0,
});

describe('usageCsv', () => {
  test('a header named after the grouping, one line per row, CRLF, six-decimal dollars', () => {
    const csv = usageCsv([row('openai', 4000), row('anthropic', 12_345_678)], 'provider');
    expect(csv).toBe(
      'provider,label,requests,errors,failed_attempts,prompt_tokens,completion_tokens,cached_tokens,cost_usd,unpriced_requests\r\n' +
        'openai,openai,3,1,2,1200,340,100,0.004000,0\r\n' +
        'anthropic,anthropic,3,1,2,1200,340,100,12.345678,0\r\n',
    );
  });

  test('no rows gives just the header', () => {
    expect(usageCsv([], 'model')).toBe('model,label,requests,errors,failed_attempts,prompt_tokens,completion_tokens,cached_tokens,cost_usd,unpriced_requests\r\n');
  });

  test('labels with commas, quotes and line breaks are quoted', () => {
    expect(csvField('work, "main" key')).toBe('"work, ""main"" key"');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('plain (k_1)')).toBe('plain (k_1)');
  });

  test('text a spreadsheet would run as a formula is defused; numbers are not', () => {
    expect(csvField('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('@sum')).toBe("'@sum");
    expect(csvField(-5)).toBe('-5');
  });

  test('file name says range, grouping and day', () => {
    expect(usageCsvName('7d', 'model', new Date('2026-11-30T12:00:00Z'))).toBe('keygate-usage-7d-by-model-2026-11-30.csv');
  });
});
