// The import dialog's guess whether a file is CSV or TOML: by its extension, else by its text.

import type { ImportFormat } from './api';

/** `csv` or `toml` from the file name's extension, or null when it says neither. */
export function formatFromName(name: string): ImportFormat | null {
  const ext = /\.([a-z0-9]+)$/i.exec(name.trim())?.[1]?.toLowerCase();
  if (ext === 'csv' || ext === 'tsv' || ext === 'txt') return ext === 'txt' ? null : 'csv';
  if (ext === 'toml') return 'toml';
  return null;
}

/**
 * Guesses from the text: TOML has `[[keys]]`/`[section]` headers or `name = value` lines; the
 * CSV import starts with its header row (`provider,label,secret,…`) or has commas on each line.
 */
export function formatFromText(text: string): ImportFormat {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (lines.length === 0) return 'csv';
  const tomlish = lines.filter((l) => /^\[\[?[\w.\- "]+\]\]?$/.test(l) || /^[\w.\-"]+\s*=\s*\S/.test(l)).length;
  if (/^provider\s*,/i.test(lines[0])) return 'csv';
  return tomlish * 2 >= lines.length ? 'toml' : 'csv';
}

/** The format for an import: the file's extension wins; pasted text is guessed. */
export function detectFormat(text: string, fileName?: string | null): ImportFormat {
  return (fileName ? formatFromName(fileName) : null) ?? formatFromText(text);
}

/** Splits an import's per-row errors (`{"line 3": "…"}`) into line numbers and other problems. */
export function lineErrors(fields: Record<string, string>): { lines: Map<number, string>; other: string[] } {
  const lines = new Map<number, string>();
  const other: string[] = [];
  for (const [field, message] of Object.entries(fields)) {
    const match = /^line (\d+)$/.exec(field);
    if (match) {
      const n = Number(match[1]);
      lines.set(n, lines.has(n) ? `${lines.get(n)}; ${message}` : message);
    } else other.push(field === 'body' || field === 'text' ? message : `${field}: ${message}`);
  }
  return { lines, other };
}

/**
 * One line of the import text with its secret hidden, to show beside that line's error. CSV:
 * the `secret` column (found in the header line); TOML: a `secret = …` value.
 */
export function maskedLine(text: string, line: number, format: ImportFormat): string {
  const lines = text.split(/\r?\n/);
  const raw = lines[line - 1] ?? '';
  // One key per line: the whole line is the secret.
  if (format === 'lines') return raw.trim() ? '••••' : '';
  if (format === 'toml') return raw.replace(/^(\s*secret\s*=\s*).*$/i, '$1"••••"');
  const header = (lines[0] ?? '').split(',').map((h) => h.trim().toLowerCase());
  const secretAt = header.indexOf('secret');
  if (line === 1 || secretAt === -1) return line === 1 ? raw : '••••';
  return raw
    .split(',')
    .map((cell, i) => (i === secretAt && cell.trim() ? '••••' : cell))
    .join(',');
}
