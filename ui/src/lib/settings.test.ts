import { describe, expect, it } from 'vitest';
import { fieldsFromMessage, parseWhole, settingLabel } from './settings';

describe('parseWhole', () => {
  it('accepts whole numbers and explains the rest', () => {
    expect(parseWhole(' 42 ')).toEqual({ value: 42 });
    expect(parseWhole('1.5')).toEqual({ error: '"1.5" is not a whole number' });
    expect(parseWhole('')).toEqual({ error: 'Required' });
  });
});

describe('fieldsFromMessage', () => {
  it('finds the fields the engine named in its message', () => {
    const { fields, rest } = fieldsFromMessage('interval_minutes: between 1 and 1440; something else', ['interval_minutes', 'max_error_count']);
    expect(fields).toEqual({ interval_minutes: 'Between 1 and 1440' });
    expect(rest).toEqual(['something else']);
  });
});

describe('settingLabel', () => {
  it('reads like words', () => {
    expect(settingLabel('proxy.max_attempts')).toBe('Max attempts');
    expect(settingLabel('retention.request_days')).toBe('Request (days)');
    expect(settingLabel('proxy.max_wait_ms')).toBe('Max wait (ms)');
  });
});
