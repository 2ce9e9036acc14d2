import { describe, expect, it } from 'vitest';
import { fieldsFromMessage, isSwitch, parseWhole, settingHint, settingLabel, settingSource } from './settings';

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

describe('switch settings', () => {
  it('shows an on/off setting as a switch with its default in words', () => {
    expect(isSwitch('proxy.sticky_sessions')).toBe(true);
    expect(isSwitch('proxy.max_attempts')).toBe(false);
    expect(settingHint('keep a session on its key while healthy (1 = on, 0 = off)', 'proxy.sticky_sessions', 1)).toBe(
      'Keep a session on its key while healthy · default on',
    );
    expect(settingHint('largest request body accepted', 'proxy.body_limit_mib', 32)).toBe('Largest request body accepted · default 32');
  });
});

describe('settingSource', () => {
  it('says where the value comes from and when a change applies', () => {
    expect(settingSource('default', 'now')).toBe('Default value · a change applies to the next request');
    expect(settingSource('saved', 'restart')).toBe('Saved value · a change applies after a restart');
  });
});
