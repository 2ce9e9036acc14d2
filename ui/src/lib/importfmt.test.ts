import { describe, expect, it } from 'vitest';
import { detectFormat, formatFromName, formatFromText, lineErrors, maskedLine } from './importfmt';

describe('import format detection', () => {
  it('trusts the extension', () => {
    expect(formatFromName('keys.CSV')).toBe('csv');
    expect(formatFromName('/tmp/keys.toml')).toBe('toml');
    expect(formatFromName('keys.json')).toBeNull();
    expect(detectFormat('[[keys]]\nprovider = "openai"', 'keys.csv')).toBe('csv');
  });

  it('recognises CSV by its header or commas', () => {
    expect(formatFromText('provider,label,secret,tags\nopenai,main,sk-1,a;b\n')).toBe('csv');
    expect(formatFromText('openai,main,sk-1\nanthropic,b,sk-2')).toBe('csv');
  });

  it('recognises TOML by its tables and assignments', () => {
    const toml = '# my keys\n[[keys]]\nprovider = "openai"\nsecret = "sk-1"\n\n[[keys]]\nprovider = "anthropic"\nsecret = "x"\n';
    expect(formatFromText(toml)).toBe('toml');
    expect(detectFormat(toml, 'pasted')).toBe('toml');
  });

  it('treats empty text as CSV', () => {
    expect(formatFromText('  \n')).toBe('csv');
  });
});

describe('lineErrors', () => {
  it('maps "line N" fields to line numbers and keeps the rest', () => {
    const { lines, other } = lineErrors({ 'line 3': 'unknown provider "nope"', format: 'bad', body: 'expected…' });
    expect(lines.get(3)).toBe('unknown provider "nope"');
    expect(other).toEqual(['format: bad', 'expected…']);
  });
});

describe('maskedLine', () => {
  it('hides the CSV secret column and TOML secret values', () => {
    const csv = 'provider,label,secret,tags\nopenai,main,sk-123,a;b';
    expect(maskedLine(csv, 2, 'csv')).toBe('openai,main,••••,a;b');
    expect(maskedLine(csv, 1, 'csv')).toBe('provider,label,secret,tags');
    expect(maskedLine('[[keys]]\n  secret = "sk-1"', 2, 'toml')).toBe('  secret = "••••"');
  });
});
